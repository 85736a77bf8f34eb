//! Handlers for `/v1/tenants/{tenant}/agents...`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::agents::{self, CreateAgentBody, CreateRevisionBody};
use crate::domain::ids::AgentId;
use crate::error::ApiResult;
use crate::http::auth::Admin;
use crate::http::body::AdminJson;
use crate::http::log::tag;
use crate::http::query;
use crate::paging::PageRequest;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
}

/// The agent named in the path, tagged for the request log.
pub fn agent_in_path(req: &HttpRequest) -> ApiResult<AgentId> {
    let raw = req.match_info().get("agent").unwrap_or_default();
    tag(req, |t| t.agent = Some(raw.to_string()));
    AgentId::from_path(raw)
}

pub async fn create(
    AdminJson(caller, body): AdminJson<CreateAgentBody>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    tag(&req, |t| t.agent = Some(body.id.clone()));
    let agent = agents::create(&state.store, &caller.tenant, body, state.now_ms()).await?;
    log::info!("agent {} created in tenant {}", agent["id"], caller.tenant);
    Ok(HttpResponse::Created().json(agent))
}

pub async fn create_revision(
    AdminJson(caller, body): AdminJson<CreateRevisionBody>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let agent = agent_in_path(&req)?;
    let revision =
        agents::add_revision(&state.store, &caller.tenant, &agent, body, state.now_ms()).await?;
    log::info!(
        "agent {agent} of tenant {} is now at revision {}",
        caller.tenant,
        revision["revision"]
    );
    Ok(HttpResponse::Created().json(revision))
}

pub async fn get(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let agent = agent_in_path(&req)?;
    Ok(HttpResponse::Ok().json(agents::get(&state.store, &caller.tenant, &agent).await?))
}

pub async fn list(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = query::parse(&req)?;
    let page = PageRequest::parse(q.page_size.as_deref(), q.page_token.as_deref())?;
    Ok(HttpResponse::Ok().json(agents::list(&state.store, &caller.tenant, page).await?))
}
