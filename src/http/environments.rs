//! Handlers for the environment registry, its diagnostics and the per-environment summary.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::costs::{self, SummaryQuery};
use crate::domain::slug::EnvironmentSlug;
use crate::environments::{self, CreateBody, ListQuery, PatchBody, slug_in_path};
use crate::error::ApiResult;
use crate::http::agents::agent_in_path;
use crate::http::auth::Admin;
use crate::http::body::AdminJson;
use crate::http::log::tag;
use crate::http::query;
use crate::state::AppState;

/// The environment named in the path, tagged for the request log.
fn environment_in_path(req: &HttpRequest) -> ApiResult<EnvironmentSlug> {
    let raw = req.match_info().get("slug").unwrap_or_default();
    tag(req, |t| t.environment = Some(raw.to_string()));
    slug_in_path(raw)
}

pub async fn list(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = query::parse(&req)?;
    Ok(HttpResponse::Ok().json(environments::list(&state, &caller.tenant, q).await?))
}

pub async fn create(
    AdminJson(caller, body): AdminJson<CreateBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(environments::create(&state, &caller.tenant, body).await?))
}

pub async fn get(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let slug = environment_in_path(&req)?;
    Ok(HttpResponse::Ok().json(environments::get(&state, &caller.tenant, &slug).await?))
}

pub async fn patch(
    AdminJson(caller, body): AdminJson<PatchBody>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let slug = environment_in_path(&req)?;
    Ok(HttpResponse::Ok().json(environments::patch(&state, &caller.tenant, &slug, body).await?))
}

pub async fn delete(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let slug = environment_in_path(&req)?;
    environments::delete(&state, &caller.tenant, &slug).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn diagnostics(
    Admin(caller): Admin,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(environments::diagnostics(&state, &caller.tenant).await?))
}

pub async fn summary(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let agent = agent_in_path(&req)?;
    let q: SummaryQuery = query::parse(&req)?;
    Ok(HttpResponse::Ok().json(costs::summary(&state.store, &caller.tenant, &agent, q).await?))
}
