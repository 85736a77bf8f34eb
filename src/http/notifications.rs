//! Handler for the notifications list.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiResult;
use crate::http::auth::Admin;
use crate::http::query;
use crate::notifications::{self, ListQuery};
use crate::state::AppState;

pub async fn list(
    Admin(caller): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = query::parse(&req)?;
    Ok(HttpResponse::Ok().json(notifications::list(&state.store, &caller.tenant, q).await?))
}
