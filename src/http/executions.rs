//! Handlers for reading execution records.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiResult;
use crate::executions::{self, ListQuery};
use crate::http::auth::Admin;
use crate::http::query;
use crate::state::AppState;

pub async fn list(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = query::parse(&req)?;
    Ok(HttpResponse::Ok().json(executions::list(&state.store, &caller.tenant, q).await?))
}

pub async fn get(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = req.match_info().get("id").unwrap_or_default();
    Ok(HttpResponse::Ok().json(executions::get(&state.store, &caller.tenant, id).await?))
}
