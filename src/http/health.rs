//! `GET /healthz`: 200 while the database answers, 503 otherwise.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;
use crate::storage;

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.read(storage::ping).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Err(e) => {
            log::error!("health check failed: {e}");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
        }
    }
}
