//! Rollups of executions per environment: all-time totals and UTC days, kept in step with the
//! executions table by writing them in the same transaction.

use rusqlite::{Connection, params};

use super::StoreError;
use super::executions::ExecutionRow;

const DAY_MS: i64 = 86_400_000;

/// The rollup key for an untagged run; never a valid slug.
const UNTAGGED: &str = "";

/// Adds one execution, stored with sequence number `seq`, to the rollups. Call it in the
/// transaction that inserts the execution.
pub fn add(conn: &Connection, e: &ExecutionRow, seq: i64) -> Result<(), StoreError> {
    let slug = e.environment_slug.as_deref().unwrap_or(UNTAGGED);
    conn.prepare_cached(
        "INSERT INTO usage_totals (tenant_id, environment_slug, agent_id, executions,
             cost_micros, last_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?5)
         ON CONFLICT DO UPDATE SET executions = executions + 1,
             cost_micros = cost_micros + excluded.cost_micros,
             last_at = max(last_at, excluded.last_at)",
    )?
    .execute(params![
        e.tenant_id,
        slug,
        e.agent_id,
        e.cost_micros,
        e.finished_at
    ])?;
    conn.prepare_cached(
        "INSERT INTO usage_daily (tenant_id, agent_id, day, environment_slug, executions,
             cost_micros, last_at, min_seq, max_seq)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7)
         ON CONFLICT DO UPDATE SET executions = executions + 1,
             cost_micros = cost_micros + excluded.cost_micros,
             last_at = max(last_at, excluded.last_at),
             max_seq = max(max_seq, excluded.max_seq)",
    )?
    .execute(params![
        e.tenant_id,
        e.agent_id,
        e.started_at.div_euclid(DAY_MS),
        slug,
        e.cost_micros,
        e.finished_at,
        seq
    ])?;
    Ok(())
}

/// Executions, cost and last activity of one environment (or of untagged runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// `None` for untagged runs.
    pub environment_slug: Option<String>,
    pub executions: i64,
    pub cost_micros: i64,
    pub last_at: Option<i64>,
}

impl Usage {
    fn merge(&mut self, other: &Usage) {
        self.executions += other.executions;
        self.cost_micros += other.cost_micros;
        self.last_at = self.last_at.max(other.last_at);
    }
}

fn slug_of(raw: String) -> Option<String> {
    (raw != UNTAGGED).then_some(raw)
}

/// All-time usage of the given environments (all agents), for the registry's list.
pub fn for_environments(
    conn: &Connection,
    tenant: &str,
    slugs: &[String],
) -> Result<Vec<Usage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*), coalesce(sum(executions), 0), coalesce(sum(cost_micros), 0),
                max(last_at)
         FROM usage_totals WHERE tenant_id = ?1 AND environment_slug = ?2",
    )?;
    slugs
        .iter()
        .map(|slug| {
            let usage = stmt.query_row(params![tenant, slug], |r| {
                Ok(Usage {
                    environment_slug: Some(slug.clone()),
                    executions: r.get(1)?,
                    cost_micros: r.get(2)?,
                    last_at: r.get(3)?,
                })
            })?;
            Ok(usage)
        })
        .collect()
}

/// One agent's usage per environment, over all time or a window `[from, to)` in ms.
///
/// Whole UTC days come from the daily rollup; the partial days at the window's edges come from
/// the executions themselves (a covering index), so the figures are exact for any window.
pub fn summary(
    conn: &Connection,
    tenant: &str,
    agent: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<Usage>, StoreError> {
    let mut by_slug: std::collections::BTreeMap<String, Usage> = Default::default();
    let mut add = |row: Usage| {
        let key = row.environment_slug.clone().unwrap_or_default();
        by_slug
            .entry(key)
            .or_insert_with(|| Usage {
                environment_slug: row.environment_slug.clone(),
                ..Usage::default()
            })
            .merge(&row);
    };

    if from.is_none() && to.is_none() {
        for row in totals_for_agent(conn, tenant, agent)? {
            add(row);
        }
    } else {
        let from = from.unwrap_or(0);
        let to = to.unwrap_or(i64::MAX / 2);
        // Whole days inside the window come from the daily rollup; the partial first and last
        // days from the executions themselves.
        let first_whole = from.div_euclid(DAY_MS) + i64::from(from.rem_euclid(DAY_MS) != 0);
        let end_whole = to.div_euclid(DAY_MS);
        if first_whole < end_whole {
            for row in days(conn, tenant, agent, first_whole, end_whole)? {
                add(row);
            }
            for row in raw(conn, tenant, agent, from, first_whole * DAY_MS)? {
                add(row);
            }
            for row in raw(conn, tenant, agent, end_whole * DAY_MS, to)? {
                add(row);
            }
        } else {
            // The window lies within one day, or straddles one midnight.
            let midnight = (from.div_euclid(DAY_MS) + 1) * DAY_MS;
            for row in raw(conn, tenant, agent, from, to.min(midnight))? {
                add(row);
            }
            for row in raw(conn, tenant, agent, midnight, to)? {
                add(row);
            }
        }
    }
    Ok(by_slug.into_values().filter(|u| u.executions > 0).collect())
}

fn usage_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Usage> {
    Ok(Usage {
        environment_slug: slug_of(r.get(0)?),
        executions: r.get(1)?,
        cost_micros: r.get(2)?,
        last_at: r.get(3)?,
    })
}

fn totals_for_agent(
    conn: &Connection,
    tenant: &str,
    agent: &str,
) -> Result<Vec<Usage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT environment_slug, executions, cost_micros, last_at FROM usage_totals
         WHERE tenant_id = ?1 AND agent_id = ?2",
    )?;
    let rows = stmt
        .query_map(params![tenant, agent], usage_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn days(
    conn: &Connection,
    tenant: &str,
    agent: &str,
    first: i64,
    end: i64,
) -> Result<Vec<Usage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT environment_slug, sum(executions), sum(cost_micros), max(last_at)
         FROM usage_daily WHERE tenant_id = ?1 AND agent_id = ?2 AND day >= ?3 AND day < ?4
         GROUP BY environment_slug",
    )?;
    let rows = stmt
        .query_map(params![tenant, agent, first, end], usage_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Usage from the executions themselves, started in `[from, to)`, which must lie within one
/// UTC day: the day's rollup rows bound the commit-order range to read.
fn raw(
    conn: &Connection,
    tenant: &str,
    agent: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Usage>, StoreError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let day = from.div_euclid(DAY_MS);
    let (low, high): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT min(min_seq), max(max_seq) FROM usage_daily
             WHERE tenant_id = ?1 AND agent_id = ?2 AND day = ?3",
        )?
        .query_row(params![tenant, agent, day], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(Vec::new());
    };

    let mut stmt = conn.prepare_cached(
        "SELECT coalesce(environment_slug, ''), count(*), sum(cost_micros), max(finished_at)
         FROM executions INDEXED BY executions_by_agent
         WHERE tenant_id = ?1 AND agent_id = ?2 AND seq BETWEEN ?3 AND ?4
           AND started_at >= ?5 AND started_at < ?6
         GROUP BY 1",
    )?;
    let rows = stmt
        .query_map(params![tenant, agent, low, high, from, to], usage_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Executions ever recorded per slug for a tenant (untagged runs left out), for diagnostics.
pub fn executions_by_environment(
    conn: &Connection,
    tenant: &str,
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT environment_slug, sum(executions) FROM usage_totals
         WHERE tenant_id = ?1 AND environment_slug <> '' GROUP BY environment_slug",
    )?;
    let rows = stmt
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
