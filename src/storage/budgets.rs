//! Budgets and their per-period usage.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

/// A budget as stored. `agent_id` is empty for a budget over every agent of the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    pub environment_slug: String,
    pub agent_id: String,
    pub limit_micros: Option<i64>,
    pub limit_executions: Option<i64>,
    pub period: String,
    pub thresholds: Vec<i64>,
    pub enforce: bool,
}

/// Usage of one budget scope in one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub executions: i64,
    pub cost_micros: i64,
    pub fired: Vec<i64>,
}

const COLUMNS: &str = "environment_slug, agent_id, limit_micros, limit_executions, period, \
                       thresholds, enforce";

fn from_row(r: &Row<'_>) -> rusqlite::Result<BudgetRow> {
    let thresholds: String = r.get(5)?;
    Ok(BudgetRow {
        environment_slug: r.get(0)?,
        agent_id: r.get(1)?,
        limit_micros: r.get(2)?,
        limit_executions: r.get(3)?,
        period: r.get(4)?,
        thresholds: serde_json::from_str(&thresholds).unwrap_or_default(),
        enforce: r.get(6)?,
    })
}

/// Creates or replaces a budget.
pub fn put(conn: &Connection, tenant: &str, b: &BudgetRow, now: i64) -> Result<(), StoreError> {
    let thresholds = serde_json::to_string(&b.thresholds).unwrap_or_else(|_| "[]".to_string());
    conn.execute(
        "INSERT INTO budgets (tenant_id, environment_slug, agent_id, limit_micros,
             limit_executions, period, thresholds, enforce, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         ON CONFLICT DO UPDATE SET limit_micros = excluded.limit_micros,
             limit_executions = excluded.limit_executions, period = excluded.period,
             thresholds = excluded.thresholds, enforce = excluded.enforce,
             updated_at = excluded.updated_at",
        params![
            tenant,
            b.environment_slug,
            b.agent_id,
            b.limit_micros,
            b.limit_executions,
            b.period,
            thresholds,
            b.enforce,
            now
        ],
    )?;
    Ok(())
}

pub fn get(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
) -> Result<Option<BudgetRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM budgets
         WHERE tenant_id = ?1 AND environment_slug = ?2 AND agent_id = ?3"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![tenant, slug, agent], from_row)
        .optional()?)
}

/// An enforced budget that applies to a run, with its usage in the current period.
#[derive(Debug, Clone)]
pub struct EnforcedRow {
    pub agent_id: String,
    pub limit_micros: Option<i64>,
    pub limit_executions: Option<i64>,
    pub period: String,
    pub usage: UsageRow,
}

/// The enforced budgets that apply to a run of `agent` in the environment, each with its usage
/// in the period that starts at `starts[period]` (day, week, month). One query, on the execute
/// path before the agent runs.
pub fn enforced(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    starts: [i64; 3],
) -> Result<Vec<EnforcedRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.agent_id, b.limit_micros, b.limit_executions, b.period,
                coalesce(u.executions, 0), coalesce(u.cost_micros, 0)
         FROM budgets b LEFT JOIN budget_usage u
           ON u.tenant_id = b.tenant_id AND u.environment_slug = b.environment_slug
          AND u.agent_id = b.agent_id AND u.period = b.period
          AND u.period_start = CASE b.period WHEN 'day' THEN ?4 WHEN 'week' THEN ?5 ELSE ?6 END
         WHERE b.tenant_id = ?1 AND b.environment_slug = ?2 AND b.agent_id IN ('', ?3)
           AND b.enforce = 1",
    )?;
    let rows = stmt
        .query_map(
            params![tenant, slug, agent, starts[0], starts[1], starts[2]],
            |r| {
                Ok(EnforcedRow {
                    agent_id: r.get(0)?,
                    limit_micros: r.get(1)?,
                    limit_executions: r.get(2)?,
                    period: r.get(3)?,
                    usage: UsageRow {
                        executions: r.get(4)?,
                        cost_micros: r.get(5)?,
                        fired: Vec::new(),
                    },
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every budget of a tenant, by environment.
pub fn all(conn: &Connection, tenant: &str) -> Result<Vec<BudgetRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM budgets WHERE tenant_id = ?1 ORDER BY environment_slug, agent_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([tenant], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn delete(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "DELETE FROM budgets WHERE tenant_id = ?1 AND environment_slug = ?2 AND agent_id = ?3",
        params![tenant, slug, agent],
    )?;
    Ok(n == 1)
}

/// Removes every budget of an environment (when the environment is deleted).
pub fn delete_for_environment(
    conn: &Connection,
    tenant: &str,
    slug: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM budgets WHERE tenant_id = ?1 AND environment_slug = ?2",
        params![tenant, slug],
    )?;
    Ok(())
}

/// The usage of a scope in the period starting at `start`; zero when nothing was recorded.
pub fn usage(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    period: &str,
    start: i64,
) -> Result<UsageRow, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT executions, cost_micros, fired FROM budget_usage
             WHERE tenant_id = ?1 AND environment_slug = ?2 AND agent_id = ?3 AND period = ?4
               AND period_start = ?5",
        )?
        .query_row(params![tenant, slug, agent, period, start], usage_row)
        .optional()?;
    Ok(row.unwrap_or_default())
}

fn usage_row(r: &Row<'_>) -> rusqlite::Result<UsageRow> {
    let fired: String = r.get(2)?;
    Ok(UsageRow {
        executions: r.get(0)?,
        cost_micros: r.get(1)?,
        fired: serde_json::from_str(&fired).unwrap_or_default(),
    })
}

/// A budget that a run counted in, with the start of the period it counted in and that
/// period's usage after it.
#[derive(Debug, Clone)]
pub struct Counted {
    pub budget: BudgetRow,
    pub period_start: i64,
    pub usage: UsageRow,
}

/// Adds a run of `agent` in the environment to every budget that applies to it (the
/// environment-wide one and the agent's own, whichever exist), in the period each budget's
/// `period` selects from `starts` (day, week, month). One statement on the writer: it finds
/// the budgets, adds the run and returns each budget with its new usage.
pub fn count_run(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    starts: [i64; 3],
    cost_micros: i64,
) -> Result<Vec<Counted>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO budget_usage (tenant_id, environment_slug, agent_id, period,
             period_start, executions, cost_micros)
         SELECT tenant_id, environment_slug, agent_id, period,
                CASE period WHEN 'day' THEN ?4 WHEN 'week' THEN ?5 ELSE ?6 END, 1, ?7
         FROM budgets
         WHERE tenant_id = ?1 AND environment_slug = ?2 AND agent_id IN ('', ?3)
         ON CONFLICT DO UPDATE SET executions = executions + 1,
             cost_micros = cost_micros + excluded.cost_micros
         RETURNING agent_id, period, period_start, executions, cost_micros, fired,
             (SELECT json_array(b.limit_micros, b.limit_executions, b.thresholds, b.enforce)
              FROM budgets b
              WHERE b.tenant_id = budget_usage.tenant_id
                AND b.environment_slug = budget_usage.environment_slug
                AND b.agent_id = budget_usage.agent_id)",
    )?;
    let params = params![
        tenant,
        slug,
        agent,
        starts[0],
        starts[1],
        starts[2],
        cost_micros
    ];
    let rows = stmt
        .query_map(params, |r| {
            let fired: String = r.get(5)?;
            let budget: String = r.get(6)?;
            let (limit_micros, limit_executions, thresholds, enforce): (
                Option<i64>,
                Option<i64>,
                String,
                i64,
            ) = serde_json::from_str(&budget).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, e.into())
            })?;
            Ok(Counted {
                budget: BudgetRow {
                    environment_slug: slug.to_string(),
                    agent_id: r.get(0)?,
                    limit_micros,
                    limit_executions,
                    period: r.get(1)?,
                    thresholds: serde_json::from_str(&thresholds).unwrap_or_default(),
                    enforce: enforce != 0,
                },
                period_start: r.get(2)?,
                usage: UsageRow {
                    executions: r.get(3)?,
                    cost_micros: r.get(4)?,
                    fired: serde_json::from_str(&fired).unwrap_or_default(),
                },
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets a period's usage outright (when a budget is created or changed mid-period), keeping
/// the thresholds already fired.
#[allow(clippy::too_many_arguments)]
pub fn set_usage(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    period: &str,
    start: i64,
    executions: i64,
    cost_micros: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO budget_usage (tenant_id, environment_slug, agent_id, period, period_start,
             executions, cost_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO UPDATE SET executions = excluded.executions,
             cost_micros = excluded.cost_micros",
        params![tenant, slug, agent, period, start, executions, cost_micros],
    )?;
    Ok(())
}

/// Records which thresholds have fired in a period.
pub fn set_fired(
    conn: &Connection,
    key: (&str, &str, &str, &str, i64),
    fired: &[i64],
) -> Result<(), StoreError> {
    let (tenant, slug, agent, period, start) = key;
    conn.prepare_cached(
        "UPDATE budget_usage SET fired = ?6 WHERE tenant_id = ?1 AND environment_slug = ?2
           AND agent_id = ?3 AND period = ?4 AND period_start = ?5",
    )?
    .execute(params![
        tenant,
        slug,
        agent,
        period,
        start,
        serde_json::to_string(fired).unwrap_or_else(|_| "[]".to_string())
    ])?;
    Ok(())
}

/// Executions and cost recorded for a scope between `start` and `end` (by start time), read
/// from the executions themselves; used to seed a budget created mid-period.
pub fn measure(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    start: i64,
    end: i64,
) -> Result<(i64, i64), StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(cost_micros), 0) FROM executions
             INDEXED BY executions_by_environment
             WHERE tenant_id = ?1 AND environment_slug = ?2 AND (?3 = '' OR agent_id = ?3)
               AND started_at >= ?4 AND started_at < ?5",
        )?
        .query_row(params![tenant, slug, agent, start, end], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
}
