//! Agents: what clients send to create them and their revisions, and what they get back.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::ids::{AgentId, TenantId};
use crate::domain::money::{to_usd, usd_to_micros};
use crate::domain::time::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::runtime::Runtime;
use crate::storage::agents::{AgentRow, NewRevision, RevisionRow};
use crate::storage::{Store, StoreError, agents};

/// The longest display name accepted, in characters.
pub const MAX_DISPLAY_NAME: usize = 200;

/// Prices per million tokens, in dollars.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PricingBody {
    #[serde(default)]
    pub input_per_million_usd: f64,
    #[serde(default)]
    pub output_per_million_usd: f64,
}

/// `POST .../agents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAgentBody {
    pub id: String,
    pub display_name: Option<String>,
    pub runtime: Runtime,
    pub pricing: Option<PricingBody>,
}

/// `POST .../agents/{agent}/revisions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRevisionBody {
    pub runtime: Runtime,
    pub pricing: Option<PricingBody>,
}

/// Checks a display name: printable text of reasonable length. Any printable unicode is fine;
/// the page renders it as text, never as markup.
pub fn parse_display_name(field: &str, raw: &str) -> ApiResult<String> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > MAX_DISPLAY_NAME {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be 1 to {MAX_DISPLAY_NAME} characters, got {length}"),
        ));
    }
    // Line and paragraph separators break lines as surely as '\n' does, though not "control".
    if trimmed
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} may not contain control characters such as newlines or tabs"),
        ));
    }
    Ok(trimmed.to_string())
}

fn new_revision(runtime: &Runtime, pricing: Option<&PricingBody>) -> ApiResult<NewRevision> {
    runtime.validate()?;
    let price = |field: &str, usd: f64| {
        usd_to_micros(usd).map_err(|why| {
            ApiError::invalid_field(field, format!("{field} {why}")).with("value", usd)
        })
    };
    let (input, output) = match pricing {
        Some(p) => (
            price("pricing.inputPerMillionUsd", p.input_per_million_usd)?,
            price("pricing.outputPerMillionUsd", p.output_per_million_usd)?,
        ),
        None => (0, 0),
    };
    Ok(NewRevision {
        runtime: serde_json::to_string(runtime).map_err(ApiError::internal)?,
        input_micros_per_million: input,
        output_micros_per_million: output,
    })
}

/// Creates an agent at revision 1.
pub async fn create(
    store: &Store,
    tenant: &TenantId,
    body: CreateAgentBody,
    now: i64,
) -> ApiResult<Value> {
    let id = AgentId::parse("id", &body.id)?;
    let display_name = match &body.display_name {
        Some(name) => parse_display_name("displayName", name)?,
        None => id.as_str().to_string(),
    };
    let revision = new_revision(&body.runtime, body.pricing.as_ref())?;

    let (t, a) = (tenant.as_str().to_string(), id.as_str().to_string());
    let created = store
        .write(move |c| {
            agents::create(c, &t, &a, &display_name, &revision, now)?;
            agents::get(c, &t, &a)
        })
        .await;
    match created {
        Ok(Some(row)) => Ok(agent_json(&row)),
        Ok(None) => Err(ApiError::internal("a created agent could not be read back")),
        Err(StoreError::AlreadyExists) => Err(ApiError::already_exists(format!(
            "agent '{id}' exists already; add a revision to change it"
        ))
        .with("agent", id.as_str())),
        Err(e) => Err(e.into()),
    }
}

/// Adds the next revision to an agent, which plain `:execute` then uses.
pub async fn add_revision(
    store: &Store,
    tenant: &TenantId,
    agent: &AgentId,
    body: CreateRevisionBody,
    now: i64,
) -> ApiResult<Value> {
    let revision = new_revision(&body.runtime, body.pricing.as_ref())?;

    let (t, a) = (tenant.as_str().to_string(), agent.as_str().to_string());
    let added = store
        .write(move |c| {
            let Some(number) = agents::add_revision(c, &t, &a, &revision, now)? else {
                return Ok(None);
            };
            agents::revision(c, &t, &a, Some(number))
        })
        .await?;
    let row = added.ok_or_else(|| agent_not_found(agent))?;
    Ok(revision_json(agent.as_str(), &row))
}

pub async fn get(store: &Store, tenant: &TenantId, agent: &AgentId) -> ApiResult<Value> {
    let (t, a) = (tenant.as_str().to_string(), agent.as_str().to_string());
    let row = store.read(move |c| agents::get(c, &t, &a)).await?;
    row.map(|r| agent_json(&r))
        .ok_or_else(|| agent_not_found(agent))
}

/// One page of agents, by id.
pub async fn list(
    store: &Store,
    tenant: &TenantId,
    page: crate::paging::PageRequest,
) -> ApiResult<Value> {
    let t = tenant.as_str().to_string();
    let after = page.after.clone();
    let limit = page.size as i64 + 1;
    let mut rows = store
        .read(move |c| agents::list(c, &t, after.as_deref(), limit))
        .await?;

    let next = page.next_token(&mut rows, |r| r.id.clone());
    let mut body = json!({"agents": rows.iter().map(agent_json).collect::<Vec<_>>()});
    if let Some(token) = next {
        body["nextPageToken"] = Value::String(token);
    }
    Ok(body)
}

pub fn agent_not_found(agent: &AgentId) -> ApiError {
    ApiError::not_found(format!("agent '{agent}' does not exist in this tenant"))
        .with("agent", agent.as_str())
}

fn stored_runtime(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

fn pricing_json(r: &RevisionRow) -> Value {
    json!({
        "inputPerMillionUsd": to_usd(r.input_micros_per_million),
        "outputPerMillionUsd": to_usd(r.output_micros_per_million),
    })
}

fn agent_json(row: &AgentRow) -> Value {
    json!({
        "id": row.id,
        "displayName": row.display_name,
        "revision": row.latest.revision,
        "runtime": stored_runtime(&row.latest.runtime),
        "pricing": pricing_json(&row.latest),
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
    })
}

fn revision_json(agent: &str, row: &RevisionRow) -> Value {
    json!({
        "agent": agent,
        "revision": row.revision,
        "runtime": stored_runtime(&row.runtime),
        "pricing": pricing_json(row),
        "createdAt": rfc3339(row.created_at),
    })
}

/// Parses a stored runtime; stored ones were validated on the way in.
pub fn parse_stored_runtime(raw: &str) -> Result<Runtime, String> {
    serde_json::from_str(raw).map_err(|e| format!("the stored runtime is unreadable: {e}"))
}
