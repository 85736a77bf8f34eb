//! Handlers for tenant settings.

use actix_web::{HttpResponse, web};

use crate::error::ApiResult;
use crate::http::auth::Admin;
use crate::http::body::AdminJson;
use crate::settings::{self, PatchBody};
use crate::state::AppState;

pub async fn get(Admin(caller): Admin, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(settings::get(&state, &caller.tenant).await?))
}

pub async fn patch(
    AdminJson(caller, body): AdminJson<PatchBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(settings::patch(&state, &caller.tenant, body).await?))
}

pub async fn rotate_webhook_secret(
    Admin(caller): Admin,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(settings::rotate_webhook_secret(&state, &caller.tenant).await?))
}
