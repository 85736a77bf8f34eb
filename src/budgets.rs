//! Budgets per environment (optionally per agent within it): limits in dollars and/or
//! executions over calendar periods in the tenant's time zone, alerts at thresholds, and
//! enforcement before the agent runs.
//!
//! Spend is counted per period in `budget_usage`, written in the transaction that records each
//! execution, so a new period simply starts a new row at zero: nothing needs a timer to reset.
//! Thresholds are checked in that same transaction; the writer serializes executions, so each
//! threshold fires exactly once per period even when many runs cross it together.

use chrono_tz::Tz;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::alerts::{self, Mail};
use crate::domain::ids::{AgentId, TenantId};
use crate::domain::money::{to_usd, usd_to_micros};
use crate::domain::period::{Period, parse_zone};
use crate::domain::slug::EnvironmentSlug;
use crate::domain::time::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::budgets::{self, BudgetRow, EnforcedRow, UsageRow};
use crate::storage::executions::ExecutionRow;
use crate::storage::notifications::{self, NewNotification};
use crate::storage::{StoreError, agents, environments, tenants};

pub const DEFAULT_THRESHOLDS: [i64; 3] = [50, 80, 100];
pub const KIND_THRESHOLD: &str = "budget_threshold";

/// A budget as clients send it (`PUT .../budget`, and `defaultBudget` in the settings).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetBody {
    #[serde(default)]
    pub limit_usd: Option<f64>,
    #[serde(default)]
    pub limit_executions: Option<i64>,
    pub period: String,
    #[serde(default)]
    pub thresholds: Option<Vec<i64>>,
    #[serde(default)]
    pub enforce: bool,
}

impl BudgetBody {
    /// Checks the budget; `prefix` names where it sits in the request (`defaultBudget.`).
    pub fn validate(&self, prefix: &str, slug: &str, agent: &str) -> ApiResult<BudgetRow> {
        let field = |name: &str| format!("{prefix}{name}");
        let limit_micros = match self.limit_usd {
            None => None,
            Some(usd) => {
                let micros = usd_to_micros(usd).map_err(|why| {
                    ApiError::invalid_field(
                        &field("limitUsd"),
                        format!("{} {why}", field("limitUsd")),
                    )
                })?;
                if micros == 0 {
                    return Err(ApiError::invalid_field(
                        &field("limitUsd"),
                        format!("{} must be more than 0", field("limitUsd")),
                    ));
                }
                Some(micros)
            }
        };
        if self.limit_executions.is_some_and(|n| n < 1) {
            return Err(ApiError::invalid_field(
                &field("limitExecutions"),
                format!("{} must be at least 1", field("limitExecutions")),
            ));
        }
        if limit_micros.is_none() && self.limit_executions.is_none() {
            return Err(ApiError::invalid_field(
                &field("limitUsd"),
                "a budget needs limitUsd, limitExecutions or both",
            ));
        }
        let period = Period::parse(&self.period).ok_or_else(|| {
            ApiError::invalid_field(
                &field("period"),
                format!("{} must be day, week or month", field("period")),
            )
        })?;
        let mut thresholds = self
            .thresholds
            .clone()
            .unwrap_or(DEFAULT_THRESHOLDS.to_vec());
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.len() > 10 || thresholds.iter().any(|t| !(1..=1000).contains(t)) {
            return Err(ApiError::invalid_field(
                &field("thresholds"),
                format!(
                    "{} must be at most 10 percentages from 1 to 1000",
                    field("thresholds")
                ),
            ));
        }
        Ok(BudgetRow {
            environment_slug: slug.to_string(),
            agent_id: agent.to_string(),
            limit_micros,
            limit_executions: self.limit_executions,
            period: period.as_str().to_string(),
            thresholds,
            enforce: self.enforce,
        })
    }
}

/// The budget JSON clients see.
pub fn budget_json(b: &BudgetRow) -> Value {
    json!({
        "environmentSlug": b.environment_slug,
        "agent": (!b.agent_id.is_empty()).then_some(&b.agent_id),
        "limitUsd": b.limit_micros.map(to_usd),
        "limitExecutions": b.limit_executions,
        "period": b.period,
        "thresholds": b.thresholds,
        "enforce": b.enforce,
    })
}

fn zone_of(conn: &Connection, tenant: &str) -> Result<Tz, StoreError> {
    Ok(parse_zone(&tenants::time_zone(conn, tenant)?).unwrap_or(Tz::UTC))
}

fn period_of(b: &BudgetRow) -> Period {
    Period::parse(&b.period).unwrap_or(Period::Month)
}

/// How far a usage is into a budget, in percent of whichever limit is closer.
fn percent_used(b: &BudgetRow, u: &UsageRow) -> f64 {
    let cost = b
        .limit_micros
        .map(|l| u.cost_micros as f64 * 100.0 / l as f64);
    let runs = b
        .limit_executions
        .map(|l| u.executions as f64 * 100.0 / l as f64);
    cost.into_iter().chain(runs).fold(0.0, f64::max)
}

/// Whether a usage has reached a threshold, in exact integer arithmetic.
fn reached(b: &BudgetRow, u: &UsageRow, threshold: i64) -> bool {
    let cost = b
        .limit_micros
        .is_some_and(|l| u.cost_micros as i128 * 100 >= threshold as i128 * l as i128);
    let runs = b
        .limit_executions
        .is_some_and(|l| u.executions * 100 >= threshold * l);
    cost || runs
}

/// The scope named by the `agent` query parameter: an agent id, or the whole environment.
fn scope(agent: &Option<AgentId>) -> String {
    agent
        .as_ref()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default()
}

/// The budget's key as owned strings, to move into a database closure.
fn owned(
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    agent: &Option<AgentId>,
) -> (String, String, String) {
    (
        tenant.as_str().to_string(),
        slug.as_str().to_string(),
        scope(agent),
    )
}

fn budget_not_found(slug: &EnvironmentSlug, agent: &str) -> ApiError {
    let scope = if agent.is_empty() {
        String::new()
    } else {
        format!(" for agent '{agent}'")
    };
    ApiError::not_found(format!("environment '{slug}' has no budget{scope}"))
        .with("environmentSlug", slug.as_str())
}

/// `PUT .../environments/{slug}/budget`: creates or replaces the budget, counting what the
/// current period has spent so far.
pub async fn put(
    state: &AppState,
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    agent: Option<AgentId>,
    body: BudgetBody,
) -> ApiResult<Value> {
    let row = body.validate("", slug.as_str(), &scope(&agent))?;
    let (t, now) = (tenant.as_str().to_string(), state.now_ms());
    let stored = row.clone();
    let found = state
        .store
        .write(move |c| {
            if !environments::exists(c, &t, &stored.environment_slug)? {
                return Ok(Err("environment"));
            }
            if !stored.agent_id.is_empty() && agents::get(c, &t, &stored.agent_id)?.is_none() {
                return Ok(Err("agent"));
            }
            budgets::put(c, &t, &stored, now)?;
            let start = seed(c, &t, &stored, now)?;
            rearm(c, &t, &stored, start)?;
            Ok(Ok(()))
        })
        .await?;
    match found {
        Ok(()) => {
            log::info!("budget of environment {slug} in tenant {tenant} set");
            Ok(budget_json(&row))
        }
        Err("agent") => Err(ApiError::not_found(format!(
            "agent '{}' does not exist in this tenant",
            row.agent_id
        ))
        .with("agent", row.agent_id.clone())),
        Err(_) => Err(ApiError::not_found(format!(
            "environment '{slug}' does not exist in this tenant"
        ))
        .with("environmentSlug", slug.as_str())),
    }
}

/// Re-arms, after a budget changed mid-period, the thresholds its spend no longer reaches
/// (a raised limit, say): they fire again when the new limit brings them back. Thresholds still
/// reached stay fired, so changing a budget never repeats an alert a person has read.
fn rearm(conn: &Connection, tenant: &str, b: &BudgetRow, start: i64) -> Result<(), StoreError> {
    let (slug, agent) = (b.environment_slug.as_str(), b.agent_id.as_str());
    let usage = budgets::usage(conn, tenant, slug, agent, &b.period, start)?;
    let kept: Vec<i64> = usage
        .fired
        .iter()
        .copied()
        .filter(|th| b.thresholds.contains(th) && reached(b, &usage, *th))
        .collect();
    if kept != usage.fired {
        budgets::set_fired(conn, (tenant, slug, agent, &b.period, start), &kept)?;
    }
    Ok(())
}

/// Recounts the current period of every budget of the tenant, after its time zone changed:
/// the periods now start elsewhere, and the spend kept under the old starts would otherwise
/// read as zero, lifting enforcement and firing thresholds again. Run it in the transaction
/// that changes the zone.
/// The thresholds already alerted in the old period stay fired in the new one: the two
/// overlap at `now`, and an alert a person has read should not arrive again an hour later.
pub fn recount_all(
    conn: &Connection,
    tenant: &str,
    old_zone: Tz,
    now: i64,
) -> Result<(), StoreError> {
    for b in budgets::all(conn, tenant)? {
        let (old_start, _) = period_of(&b).bounds(old_zone, now);
        let (slug, agent) = (b.environment_slug.as_str(), b.agent_id.as_str());
        let fired = budgets::usage(conn, tenant, slug, agent, &b.period, old_start)?.fired;
        let start = seed(conn, tenant, &b, now)?;
        if !fired.is_empty() {
            budgets::set_fired(conn, (tenant, slug, agent, &b.period, start), &fired)?;
        }
    }
    Ok(())
}

/// Counts the current period's spend from the executions, for a budget set mid-period.
/// Returns the start of that period.
fn seed(conn: &Connection, tenant: &str, b: &BudgetRow, now: i64) -> Result<i64, StoreError> {
    let (start, end) = period_of(b).bounds(zone_of(conn, tenant)?, now);
    let (runs, cost) =
        budgets::measure(conn, tenant, &b.environment_slug, &b.agent_id, start, end)?;
    budgets::set_usage(
        conn,
        tenant,
        &b.environment_slug,
        &b.agent_id,
        &b.period,
        start,
        runs,
        cost,
    )?;
    Ok(start)
}

pub async fn get(
    state: &AppState,
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    agent: Option<AgentId>,
) -> ApiResult<Value> {
    let (t, s, a) = owned(tenant, slug, &agent);
    let found = state
        .store
        .read(move |c| budgets::get(c, &t, &s, &a))
        .await?;
    found
        .map(|b| budget_json(&b))
        .ok_or_else(|| budget_not_found(slug, &scope(&agent)))
}

pub async fn delete(
    state: &AppState,
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    agent: Option<AgentId>,
) -> ApiResult<()> {
    let (t, s, a) = owned(tenant, slug, &agent);
    let deleted = state
        .store
        .write(move |c| budgets::delete(c, &t, &s, &a))
        .await?;
    if !deleted {
        return Err(budget_not_found(slug, &scope(&agent)));
    }
    log::info!("budget of environment {slug} in tenant {tenant} removed");
    Ok(())
}

/// `GET .../budget:status`: where the current period stands.
pub async fn status(
    state: &AppState,
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    agent: Option<AgentId>,
) -> ApiResult<Value> {
    let (t, s, a) = owned(tenant, slug, &agent);
    let now = state.now_ms();
    let found = state
        .store
        .read(move |c| {
            let Some(b) = budgets::get(c, &t, &s, &a)? else {
                return Ok(None);
            };
            let (start, end) = period_of(&b).bounds(zone_of(c, &t)?, now);
            let usage = budgets::usage(c, &t, &s, &a, &b.period, start)?;
            Ok(Some((b, usage, start, end)))
        })
        .await?;
    let (b, u, start, end) = found.ok_or_else(|| budget_not_found(slug, &scope(&agent)))?;
    Ok(status_json(&b, &u, start, end))
}

pub fn status_json(b: &BudgetRow, u: &UsageRow, start: i64, end: i64) -> Value {
    json!({
        "environmentSlug": b.environment_slug,
        "agent": (!b.agent_id.is_empty()).then_some(&b.agent_id),
        "period": b.period,
        "periodStart": rfc3339(start),
        "resetsAt": rfc3339(end),
        "spentUsd": to_usd(u.cost_micros),
        "executions": u.executions,
        "limitUsd": b.limit_micros.map(to_usd),
        "limitExecutions": b.limit_executions,
        "percentUsed": (percent_used(b, u) * 100.0).round() / 100.0,
        "thresholds": b.thresholds,
        "firedThresholds": u.fired,
        "enforce": b.enforce,
    })
}

/// Every budget of the tenant with its status, for the settings page.
pub async fn all_statuses(state: &AppState, tenant: &TenantId) -> ApiResult<Value> {
    let (t, now) = (tenant.as_str().to_string(), state.now_ms());
    let rows = state
        .store
        .read(move |c| {
            let zone = zone_of(c, &t)?;
            let mut out = Vec::new();
            for b in budgets::all(c, &t)? {
                let (start, end) = period_of(&b).bounds(zone, now);
                let usage =
                    budgets::usage(c, &t, &b.environment_slug, &b.agent_id, &b.period, start)?;
                out.push(status_json(&b, &usage, start, end));
            }
            Ok(out)
        })
        .await?;
    Ok(json!({"budgets": rows}))
}

/// Gives a newly registered environment the tenant's default budget, if it has one. Runs in
/// the registering transaction, for auto-created and explicit environments alike.
pub fn apply_default(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    now: i64,
) -> Result<(), StoreError> {
    let Some(json) = tenants::alert_config(conn, tenant)?.default_budget else {
        return Ok(());
    };
    let Ok(body) = serde_json::from_str::<BudgetBody>(&json) else {
        log::error!("tenant {tenant}'s stored default budget is unreadable; not applied");
        return Ok(());
    };
    match body.validate("defaultBudget.", slug, "") {
        Ok(row) => {
            budgets::put(conn, tenant, &row, now)?;
            seed(conn, tenant, &row, now).map(|_| ())
        }
        Err(e) => {
            log::error!("tenant {tenant}'s default budget is invalid ({e}); not applied");
            Ok(())
        }
    }
}

/// Why a run may not start: an enforced budget of its environment is used up.
pub struct Exhausted {
    pub budget: EnforcedRow,
    pub resets_at: i64,
}

/// Checks the enforced budgets that apply to a run of `agent` in `slug`, at `now` in the
/// tenant's `zone`. One query; runs on the execute path before the agent is called.
pub fn exhausted(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    agent: &str,
    zone: Tz,
    now: i64,
) -> Result<Option<Exhausted>, StoreError> {
    let periods = [Period::Day, Period::Week, Period::Month];
    let bounds = periods.map(|p| p.bounds(zone, now));
    let starts = bounds.map(|(start, _)| start);
    // Of several used-up budgets (a day budget of the agent and a month budget of the
    // environment, say), the one that resets last decides when a retry can succeed.
    let exhausted = budgets::enforced(conn, tenant, slug, agent, starts)?
        .into_iter()
        .filter(|b| {
            b.limit_micros.is_some_and(|l| b.usage.cost_micros >= l)
                || b.limit_executions.is_some_and(|l| b.usage.executions >= l)
        })
        .map(|b| {
            let index = periods.iter().position(|p| p.as_str() == b.period);
            let resets_at = bounds[index.unwrap_or(2)].1;
            Exhausted {
                budget: b,
                resets_at,
            }
        })
        .max_by_key(|e| e.resets_at);
    Ok(exhausted)
}

/// The 429 for an exhausted budget, with `Retry-After` until the period resets.
pub fn refusal(tenant: &str, slug: &str, e: &Exhausted, now: i64) -> ApiError {
    let b = &e.budget;
    let retry_after = ((e.resets_at - now).max(0) + 999) / 1000;
    let scope = if b.agent_id.is_empty() {
        String::new()
    } else {
        format!(" for agent '{}'", b.agent_id)
    };
    let mut error = ApiError::resource_exhausted(
        "ENVIRONMENT_BUDGET_EXCEEDED",
        format!(
            "environment '{slug}' of tenant '{tenant}' has used its {} budget{scope} \
             ({} spent, {} executions); it resets at {}",
            b.period,
            to_usd(b.usage.cost_micros),
            b.usage.executions,
            rfc3339(e.resets_at)
        ),
    )
    .with("tenant", tenant)
    .with("environmentSlug", slug)
    .with("period", b.period.clone())
    .with("spentUsd", to_usd(b.usage.cost_micros))
    .with("executions", b.usage.executions)
    .with("resetsAt", rfc3339(e.resets_at))
    .with_header(
        actix_web::http::header::RETRY_AFTER,
        retry_after.to_string(),
    );
    if let Some(l) = b.limit_micros {
        error = error.with("limitUsd", to_usd(l));
    }
    if let Some(l) = b.limit_executions {
        error = error.with("limitExecutions", l);
    }
    if !b.agent_id.is_empty() {
        error = error.with("agent", b.agent_id.clone());
    }
    error
}

/// Adds a recorded execution to the budgets that cover it and fires the thresholds it
/// crosses. Runs in the transaction that records the execution.
pub fn on_recorded(
    conn: &Connection,
    settings_url: &str,
    e: &ExecutionRow,
    zone: Tz,
    now: i64,
) -> Result<(), StoreError> {
    let Some(slug) = &e.environment_slug else {
        return Ok(());
    };
    let starts = [Period::Day, Period::Week, Period::Month].map(|p| p.bounds(zone, e.started_at).0);
    let counted = budgets::count_run(conn, &e.tenant_id, slug, &e.agent_id, starts, e.cost_micros)?;
    for budgets::Counted {
        budget: b,
        period_start: start,
        mut usage,
    } in counted
    {
        let (t, a) = (e.tenant_id.as_str(), b.agent_id.as_str());
        let crossed: Vec<i64> = b
            .thresholds
            .iter()
            .copied()
            .filter(|th| !usage.fired.contains(th) && reached(&b, &usage, *th))
            .collect();
        if crossed.is_empty() {
            continue;
        }
        usage.fired.extend(&crossed);
        usage.fired.sort_unstable();
        budgets::set_fired(conn, (t, slug, a, &b.period, start), &usage.fired)?;
        let (_, end) = period_of(&b).bounds(zone, e.started_at);
        for threshold in crossed {
            alert(
                conn,
                t,
                settings_url,
                &b,
                &usage,
                threshold,
                (start, end),
                now,
            )?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn alert(
    conn: &Connection,
    tenant: &str,
    settings_url: &str,
    b: &BudgetRow,
    u: &UsageRow,
    threshold: i64,
    (start, end): (i64, i64),
    now: i64,
) -> Result<(), StoreError> {
    let percent = (percent_used(b, u) * 100.0).round() / 100.0;
    let scope = if b.agent_id.is_empty() {
        String::new()
    } else {
        format!(" (agent {})", b.agent_id)
    };
    let limits = [
        b.limit_micros
            .map(|l| format!("{} of {} USD", to_usd(u.cost_micros), to_usd(l))),
        b.limit_executions
            .map(|l| format!("{} of {} executions", u.executions, l)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let subject = format!(
        "{tenant}: environment {}{scope} reached {threshold}% of its {} budget",
        b.environment_slug, b.period
    );
    let consequence = if b.enforce {
        "The budget is enforced: at 100% new executions for this environment are refused until \
         the period resets."
    } else {
        "The budget is not enforced: executions continue past 100%."
    };
    let body = format!(
        "Environment {}{scope} of {tenant} has used {percent}% of its {} budget: {limits}.\n\
         The period began {} and resets {}.\n{consequence}\n\nBudgets are managed on the \
         settings page: {settings_url}\n",
        b.environment_slug,
        b.period,
        rfc3339(start),
        rfc3339(end)
    );
    alerts::enqueue(conn, tenant, KIND_THRESHOLD, Mail { subject, body }, now)?;

    let config = tenants::alert_config(conn, tenant)?;
    if let Some(url) = config.alert_webhook_url {
        let payload = json!({
            "type": "budget.threshold",
            "tenant": tenant,
            "environment": b.environment_slug,
            "agent": (!b.agent_id.is_empty()).then_some(&b.agent_id),
            "period": b.period,
            "periodStart": rfc3339(start),
            "resetsAt": rfc3339(end),
            "spentUsd": to_usd(u.cost_micros),
            "limitUsd": b.limit_micros.map(to_usd),
            "executions": u.executions,
            "limitExecutions": b.limit_executions,
            "percent": percent,
            "threshold": threshold,
            "enforce": b.enforce,
        });
        notifications::enqueue(
            conn,
            &NewNotification {
                tenant_id: tenant.to_string(),
                kind: KIND_THRESHOLD.to_string(),
                recipients: Vec::new(),
                subject: format!("webhook: {threshold}% of {}'s budget", b.environment_slug),
                body: payload.to_string(),
                channel: "webhook".to_string(),
                target: Some(url),
            },
            now,
        )?;
    }
    Ok(())
}
