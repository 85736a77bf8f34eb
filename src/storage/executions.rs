//! Execution records: written once, when a run ends, and never changed.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::StoreError;

const HOUR_MS: i64 = 3_600_000;

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

/// Records a finished execution and adds it to the usage rollups. Run inside a transaction:
/// the row and its rollups are committed together or not at all.
pub fn record(conn: &Connection, e: &ExecutionRow) -> Result<(), StoreError> {
    insert(conn, e)?;
    let seq = conn.last_insert_rowid();
    mark_hour(conn, e, seq)?;
    super::usage::add(conn, e, seq)
}

/// Widens the commit-order range of the hour the run started in, so a list bounded in time
/// reads only the rows of the hours it covers.
fn mark_hour(conn: &Connection, e: &ExecutionRow, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO execution_hours (tenant_id, hour, min_seq, max_seq) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT DO UPDATE SET min_seq = min(min_seq, excluded.min_seq),
             max_seq = max(max_seq, excluded.max_seq)",
    )?
    .execute(params![e.tenant_id, e.started_at.div_euclid(HOUR_MS), seq])?;
    Ok(())
}

/// The commit-order range that holds every run started in `[from, to)`, or `None` when no run
/// did. Runs are recorded when they end, so an hour's runs are not one contiguous range of
/// `seq`; the union of the hours' ranges still bounds them all.
fn seq_bounds(
    conn: &Connection,
    tenant: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<(i64, i64)>, StoreError> {
    let first = from.map_or(i64::MIN, |f| f.div_euclid(HOUR_MS));
    let last = to.map_or(i64::MAX, |t| (t - 1).div_euclid(HOUR_MS));
    let (low, high): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT min(min_seq), max(max_seq) FROM execution_hours
             WHERE tenant_id = ?1 AND hour BETWEEN ?2 AND ?3",
        )?
        .query_row(params![tenant, first, last], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(low.zip(high))
}

fn insert(conn: &Connection, e: &ExecutionRow) -> Result<(), StoreError> {
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

/// Which executions a list wants. Every value is bound as a parameter, never spliced into SQL.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(None)` asks for untagged runs.
    pub environment: Option<Option<String>>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub status: Option<String>,
    /// Started at or after, in ms.
    pub from: Option<i64>,
    /// Started before, in ms.
    pub to: Option<i64>,
    /// Only rows committed before this sequence number (the page cursor).
    pub before_seq: Option<i64>,
}

/// Executions matching `filter`, newest (last committed) first, at most `limit`, each with its
/// sequence number for the next page's cursor. Rows committed after the first page only ever
/// appear in front of the cursor, so paging neither repeats nor skips a row.
pub fn list(
    conn: &Connection,
    tenant: &str,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<(i64, ExecutionRow)>, StoreError> {
    // Only the clauses in use appear in the SQL, so that SQLite can pick the index that fits
    // (environment or agent, then seq). The fragments are fixed text; values are parameters.
    let mut clauses = vec!["tenant_id = ?"];
    let mut values: Vec<Value> = vec![Value::from(tenant.to_string())];
    match &filter.environment {
        None => {}
        Some(None) => clauses.push("environment_slug IS NULL"),
        Some(Some(slug)) => {
            clauses.push("environment_slug = ?");
            values.push(Value::from(slug.clone()));
        }
    }
    // The status is one of two words, written as a literal so that the partial index of
    // failed runs can serve it (SQLite matches a partial index against literals only).
    match filter.status.as_deref() {
        None => {}
        Some("failed") => clauses.push("status = 'failed'"),
        Some("succeeded") => clauses.push("status = 'succeeded'"),
        Some(other) => return Err(StoreError::Other(format!("unknown status {other:?}"))),
    }
    // A time window first narrows the commit-order range to the hours it covers.
    if filter.from.is_some() || filter.to.is_some() {
        let Some((low, high)) = seq_bounds(conn, tenant, filter.from, filter.to)? else {
            return Ok(Vec::new());
        };
        clauses.push("seq BETWEEN ? AND ?");
        values.extend([Value::from(low), Value::from(high)]);
    }
    let optional: [(&'static str, Option<Value>); 5] = [
        ("agent_id = ?", filter.agent.clone().map(Value::from)),
        ("session_id = ?", filter.session_id.clone().map(Value::from)),
        ("started_at >= ?", filter.from.map(Value::from)),
        ("started_at < ?", filter.to.map(Value::from)),
        ("seq < ?", filter.before_seq.map(Value::from)),
    ];
    for (clause, value) in optional {
        if let Some(value) = value {
            clauses.push(clause);
            values.push(value);
        }
    }
    values.push(Value::from(limit));

    let sql = format!(
        "SELECT {COLUMNS}, seq FROM executions WHERE {} ORDER BY seq DESC LIMIT ?",
        clauses.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| Ok((r.get(16)?, from_row(r)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
