//! Agents and their immutable, numbered revisions.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

/// One revision: how to run the agent and how to price its tokens.
#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub revision: i64,
    /// The runtime as JSON text, validated when the revision was created.
    pub runtime: String,
    pub input_micros_per_million: i64,
    pub output_micros_per_million: i64,
    pub created_at: i64,
}

/// An agent with its latest revision.
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub id: String,
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub latest: RevisionRow,
}

/// What a new revision holds.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub runtime: String,
    pub input_micros_per_million: i64,
    pub output_micros_per_million: i64,
}

/// Creates an agent at revision 1; `AlreadyExists` when the id is taken in this tenant.
pub fn create(
    conn: &Connection,
    tenant: &str,
    id: &str,
    display_name: &str,
    revision: &NewRevision,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO agents (tenant_id, id, display_name, latest_revision, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?4)",
        params![tenant, id, display_name, now],
    )?;
    insert_revision(conn, tenant, id, 1, revision, now)
}

/// Adds the next revision and makes it the latest; `None` when the agent does not exist.
pub fn add_revision(
    conn: &Connection,
    tenant: &str,
    id: &str,
    revision: &NewRevision,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let next: Option<i64> = conn
        .query_row(
            "UPDATE agents SET latest_revision = latest_revision + 1, updated_at = ?3
             WHERE tenant_id = ?1 AND id = ?2 RETURNING latest_revision",
            params![tenant, id, now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(next) = next else {
        return Ok(None);
    };
    insert_revision(conn, tenant, id, next, revision, now)?;
    Ok(Some(next))
}

fn insert_revision(
    conn: &Connection,
    tenant: &str,
    id: &str,
    number: i64,
    revision: &NewRevision,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO agent_revisions (tenant_id, agent_id, revision, runtime,
             input_micros_per_million, output_micros_per_million, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tenant,
            id,
            number,
            revision.runtime,
            revision.input_micros_per_million,
            revision.output_micros_per_million,
            now
        ],
    )?;
    Ok(())
}

const AGENT_COLUMNS: &str = "a.id, a.display_name, a.created_at, a.updated_at, r.revision,
    r.runtime, r.input_micros_per_million, r.output_micros_per_million, r.created_at";

fn agent_from_row(r: &Row<'_>) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow {
        id: r.get(0)?,
        display_name: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        latest: RevisionRow {
            revision: r.get(4)?,
            runtime: r.get(5)?,
            input_micros_per_million: r.get(6)?,
            output_micros_per_million: r.get(7)?,
            created_at: r.get(8)?,
        },
    })
}

pub fn get(conn: &Connection, tenant: &str, id: &str) -> Result<Option<AgentRow>, StoreError> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents a JOIN agent_revisions r
           ON r.tenant_id = a.tenant_id AND r.agent_id = a.id AND r.revision = a.latest_revision
         WHERE a.tenant_id = ?1 AND a.id = ?2"
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![tenant, id], agent_from_row)
        .optional()?;
    Ok(row)
}

/// Agents ordered by id, starting after `after`, at most `limit` of them.
pub fn list(
    conn: &Connection,
    tenant: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AgentRow>, StoreError> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents a JOIN agent_revisions r
           ON r.tenant_id = a.tenant_id AND r.agent_id = a.id AND r.revision = a.latest_revision
         WHERE a.tenant_id = ?1 AND a.id > ?2 ORDER BY a.id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![tenant, after.unwrap_or(""), limit], agent_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One revision of an agent: the given number, or the latest when `revision` is `None`.
pub fn revision(
    conn: &Connection,
    tenant: &str,
    id: &str,
    revision: Option<i64>,
) -> Result<Option<RevisionRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT r.revision, r.runtime, r.input_micros_per_million,
                    r.output_micros_per_million, r.created_at
             FROM agents a JOIN agent_revisions r
               ON r.tenant_id = a.tenant_id AND r.agent_id = a.id
              AND r.revision = coalesce(?3, a.latest_revision)
             WHERE a.tenant_id = ?1 AND a.id = ?2",
        )?
        .query_row(params![tenant, id, revision], |r| {
            Ok(RevisionRow {
                revision: r.get(0)?,
                runtime: r.get(1)?,
                input_micros_per_million: r.get(2)?,
                output_micros_per_million: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .optional()?;
    Ok(row)
}
