//! Execution records: written once, when a run ends, and never changed.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

/// One execution as stored.
#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub revision: i64,
    pub environment_slug: Option<String>,
    pub session_id: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The agent's output as JSON text, for succeeded runs.
    pub output: Option<String>,
    pub error: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub duration_ms: i64,
    /// Where the run came from; `api` for now.
    pub source: String,
}

/// Writes a finished execution in one statement, so a crash leaves it whole or absent.
pub fn insert(conn: &Connection, e: &ExecutionRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO executions (id, tenant_id, agent_id, revision, environment_slug, session_id,
             status, output, error, input_tokens, output_tokens, cost_micros, started_at,
             finished_at, duration_ms, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        e.id,
        e.tenant_id,
        e.agent_id,
        e.revision,
        e.environment_slug,
        e.session_id,
        e.status,
        e.output,
        e.error,
        e.input_tokens,
        e.output_tokens,
        e.cost_micros,
        e.started_at,
        e.finished_at,
        e.duration_ms,
        e.source
    ])?;
    Ok(())
}

const COLUMNS: &str = "id, tenant_id, agent_id, revision, environment_slug, session_id, status,
    output, error, input_tokens, output_tokens, cost_micros, started_at, finished_at,
    duration_ms, source";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        agent_id: r.get(2)?,
        revision: r.get(3)?,
        environment_slug: r.get(4)?,
        session_id: r.get(5)?,
        status: r.get(6)?,
        output: r.get(7)?,
        error: r.get(8)?,
        input_tokens: r.get(9)?,
        output_tokens: r.get(10)?,
        cost_micros: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        duration_ms: r.get(14)?,
        source: r.get(15)?,
    })
}

pub fn get(conn: &Connection, tenant: &str, id: &str) -> Result<Option<ExecutionRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = ?1 AND id = ?2");
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![tenant, id], from_row)
        .optional()?;
    Ok(row)
}

/// How many executions a tenant has recorded.
pub fn count(conn: &Connection, tenant: &str) -> Result<i64, StoreError> {
    let n = conn
        .prepare_cached("SELECT count(*) FROM executions WHERE tenant_id = ?1")?
        .query_row([tenant], |r| r.get(0))?;
    Ok(n)
}
