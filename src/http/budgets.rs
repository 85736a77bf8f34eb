//! Handlers for environment budgets.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::budgets::{self, BudgetBody};
use crate::domain::ids::AgentId;
use crate::domain::slug::EnvironmentSlug;
use crate::environments::slug_in_path;
use crate::error::ApiResult;
use crate::http::auth::Admin;
use crate::http::body::AdminJson;
use crate::http::log::tag;
use crate::http::query;
use crate::state::AppState;

/// `?agent=` narrows a budget to one agent within the environment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeQuery {
    agent: Option<String>,
}

/// The environment of the path and the agent of the query.
fn scope(req: &HttpRequest) -> ApiResult<(EnvironmentSlug, Option<AgentId>)> {
    let raw = req.match_info().get("slug").unwrap_or_default();
    tag(req, |t| t.environment = Some(raw.to_string()));
    let slug = slug_in_path(raw)?;
    let q: ScopeQuery = query::parse(req)?;
    let agent = q
        .agent
        .as_deref()
        .map(|a| AgentId::parse("agent", a))
        .transpose()?;
    Ok((slug, agent))
}

pub async fn put(
    AdminJson(caller, body): AdminJson<BudgetBody>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (slug, agent) = scope(&req)?;
    Ok(HttpResponse::Ok().json(budgets::put(&state, &caller.tenant, &slug, agent, body).await?))
}

pub async fn get(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (slug, agent) = scope(&req)?;
    Ok(HttpResponse::Ok().json(budgets::get(&state, &caller.tenant, &slug, agent).await?))
}

pub async fn delete(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (slug, agent) = scope(&req)?;
    budgets::delete(&state, &caller.tenant, &slug, agent).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn status(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (slug, agent) = scope(&req)?;
    Ok(HttpResponse::Ok().json(budgets::status(&state, &caller.tenant, &slug, agent).await?))
}

/// Every budget of the tenant with its status.
pub async fn list(Admin(caller): Admin, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(budgets::all_statuses(&state, &caller.tenant).await?))
}
