//! Execution records as clients read them: one by id, or a filtered list, newest first.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::ids::TenantId;
use crate::domain::money::to_usd;
use crate::domain::slug::EnvironmentSlug;
use crate::domain::time::{parse_rfc3339, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::paging::PageRequest;
use crate::storage::Store;
use crate::storage::executions::{self, ExecutionRow, Filter};

/// The query of `GET .../executions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    environment: Option<String>,
    agent: Option<String>,
    session_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

impl ListQuery {
    fn filter(&self) -> ApiResult<Filter> {
        let environment = match self.environment.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(raw) => Some(Some(
                EnvironmentSlug::parse("environment", raw)?.into_string(),
            )),
        };
        let status = match self.status.as_deref() {
            None | Some("succeeded") | Some("failed") => self.status.clone(),
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "status",
                    format!(
                        "status '{}' is not one of succeeded, failed",
                        crate::domain::slug::abbreviate(other)
                    ),
                ));
            }
        };
        let time = |field: &str, raw: &Option<String>| {
            raw.as_deref().map(|r| parse_rfc3339(field, r)).transpose()
        };
        Ok(Filter {
            environment,
            agent: self.agent.clone(),
            session_id: self.session_id.clone(),
            status,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
            before_seq: None,
        })
    }
}

/// One page of a tenant's executions.
pub async fn list(store: &Store, tenant: &TenantId, query: ListQuery) -> ApiResult<Value> {
    let mut filter = query.filter()?;
    let page = PageRequest::parse(query.page_size.as_deref(), query.page_token.as_deref())?;
    if let Some(after) = &page.after {
        let seq = after.parse::<i64>().map_err(|_| {
            ApiError::invalid_field("pageToken", "pageToken is not one this server issued")
        })?;
        filter.before_seq = Some(seq);
    }

    let t = tenant.as_str().to_string();
    let limit = page.size as i64 + 1;
    let mut rows = store
        .read(move |c| executions::list(c, &t, &filter, limit))
        .await?;

    let next = page.next_token(&mut rows, |(seq, _)| seq.to_string());
    let mut body = json!({
        "executions": rows.iter().map(|(_, row)| execution_json(row)).collect::<Vec<_>>(),
    });
    if let Some(token) = next {
        body["nextPageToken"] = Value::String(token);
    }
    Ok(body)
}

/// One execution by id.
pub async fn get(store: &Store, tenant: &TenantId, id: &str) -> ApiResult<Value> {
    let (t, i) = (tenant.as_str().to_string(), id.to_string());
    let row = store.read(move |c| executions::get(c, &t, &i)).await?;
    row.map(|r| execution_json(&r)).ok_or_else(|| {
        ApiError::not_found(format!(
            "execution '{}' does not exist in this tenant",
            crate::domain::slug::abbreviate(id)
        ))
        .with("executionId", crate::domain::slug::abbreviate(id))
    })
}

/// An execution record as clients see it.
pub fn execution_json(row: &ExecutionRow) -> Value {
    let output = row
        .output
        .as_deref()
        .map(|o| serde_json::from_str(o).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut body = json!({
        "executionId": row.id,
        "agent": row.agent_id,
        "revision": row.revision,
        "status": row.status,
        "output": output,
        "sessionId": row.session_id,
        "environmentSlug": row.environment_slug,
        "usage": {"inputTokens": row.input_tokens, "outputTokens": row.output_tokens},
        "costUsd": to_usd(row.cost_micros),
        "startedAt": rfc3339(row.started_at),
        "finishedAt": rfc3339(row.finished_at),
        "durationMs": row.duration_ms,
        "source": row.source,
    });
    if let Some(error) = &row.error {
        body["error"] = Value::String(error.clone());
    }
    body
}
