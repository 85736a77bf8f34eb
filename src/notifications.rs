//! The notifications a tenant's admins were sent (or are about to be), with delivery status.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::ids::TenantId;
use crate::domain::time::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::paging::PageRequest;
use crate::storage::{Store, notifications};

/// The query of `GET .../notifications`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
}

/// One page of notifications, newest first.
pub async fn list(store: &Store, tenant: &TenantId, query: ListQuery) -> ApiResult<Value> {
    let page = PageRequest::parse(query.page_size.as_deref(), query.page_token.as_deref())?;
    let before = match &page.after {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
            ApiError::invalid_field("pageToken", "pageToken is not one this server issued")
        })?),
    };

    let t = tenant.as_str().to_string();
    let limit = page.size as i64 + 1;
    let mut rows = store
        .read(move |c| notifications::list(c, &t, before, limit))
        .await?;
    let next = page.next_token(&mut rows, |n| n.id.to_string());

    let items: Vec<Value> = rows
        .iter()
        .map(|n| {
            json!({
                "id": n.id.to_string(),
                "kind": n.kind,
                "channel": n.channel,
                "target": n.target,
                "createdAt": rfc3339(n.created_at),
                "recipients": n.recipients,
                "subject": n.subject,
                "body": n.body,
                "status": n.status,
                "attempts": n.attempts,
                "lastError": n.last_error,
            })
        })
        .collect();
    let mut body = json!({"notifications": items});
    if let Some(token) = next {
        body["nextPageToken"] = Value::String(token);
    }
    Ok(body)
}
