//! The per-customer cost split: one agent's executions and cost per environment.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agents::agent_not_found;
use crate::domain::ids::{AgentId, TenantId};
use crate::domain::money::to_usd;
use crate::domain::time::{parse_rfc3339, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::storage::usage::{self, Usage};
use crate::storage::{Store, agents};

/// The query of `GET .../agents/{agent}/environments:summary`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Executions, exact total cost and last activity per environment, untagged runs as a `null`
/// row, and the totals; over all time or the window `[from, to)`.
pub async fn summary(
    store: &Store,
    tenant: &TenantId,
    agent: &AgentId,
    query: SummaryQuery,
) -> ApiResult<Value> {
    let from = query
        .from
        .as_deref()
        .map(|r| parse_rfc3339("from", r))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|r| parse_rfc3339("to", r))
        .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(
            ApiError::invalid_field("from", "from must not be later than to")
                .with("from", rfc3339(f))
                .with("to", rfc3339(t)),
        );
    }

    let (t, a) = (tenant.as_str().to_string(), agent.as_str().to_string());
    let rows = store
        .read(move |c| {
            if agents::revision(c, &t, &a, None)?.is_none() {
                return Ok(None);
            }
            usage::summary(c, &t, &a, from, to).map(Some)
        })
        .await?
        .ok_or_else(|| agent_not_found(agent))?;

    let mut totals = Usage::default();
    for row in &rows {
        totals.executions += row.executions;
        totals.cost_micros += row.cost_micros;
        totals.last_at = totals.last_at.max(row.last_at);
    }
    let mut rows = rows;
    rows.sort_by(|a, b| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then(a.environment_slug.cmp(&b.environment_slug))
    });

    let mut body = json!({
        "agent": agent.as_str(),
        "environments": rows.iter().map(|u| json!({
            "environmentSlug": u.environment_slug,
            "executionCount": u.executions,
            "totalCostUsd": to_usd(u.cost_micros),
            "lastActivityAt": u.last_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "totals": {
            "executionCount": totals.executions,
            "totalCostUsd": to_usd(totals.cost_micros),
            "lastActivityAt": totals.last_at.map(rfc3339),
        },
    });
    if let Some(f) = from {
        body["from"] = Value::String(rfc3339(f));
    }
    if let Some(t) = to {
        body["to"] = Value::String(rfc3339(t));
    }
    Ok(body)
}
