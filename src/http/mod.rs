//! The HTTP layer: routes, extractors and handlers. Handlers stay thin: extract, call one
//! domain function, map the result. No SQL here.

pub mod agents;
pub mod auth;
pub mod body;
pub mod budgets;
pub mod environments;
pub mod execute;
pub mod executions;
pub mod health;
pub mod log;
pub mod notifications;
pub mod query;
pub mod session;
pub mod settings;
pub mod ui;

use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;

/// An agent id inside a path segment that may also carry a `:verb`.
const AGENT: &str = "{agent:[^/:]+}";

/// Registers every route of the API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let tenant = "/v1/tenants/{tenant}";
    // Routes are tried in order and these patterns are regular expressions: the hot path goes
    // first so that an execution is matched by the first one tried.
    cfg.service(
        resource(&format!("{tenant}/agents/{AGENT}:execute"))
            .route(web::post().to(execute::execute)),
    )
    .service(resource("/healthz").route(web::get().to(health::healthz)))
    .service(resource("/").route(web::get().to(ui::serve)))
    .service(resource("/static/{file}").route(web::get().to(ui::serve)))
    .service(
        resource("/v1/session")
            .route(web::post().to(session::sign_in))
            .route(web::get().to(session::current))
            .route(web::delete().to(session::sign_out)),
    )
    .service(
        resource(&format!("{tenant}/agents"))
            .route(web::get().to(agents::list))
            .route(web::post().to(agents::create)),
    )
    .service(resource(&format!("{tenant}/agents/{AGENT}")).route(web::get().to(agents::get)))
    .service(
        resource(&format!("{tenant}/agents/{AGENT}:stream")).route(web::post().to(execute::stream)),
    )
    .service(
        resource(&format!("{tenant}/agents/{AGENT}/revisions"))
            .route(web::post().to(agents::create_revision)),
    )
    .service(
        resource(&format!(
            "{tenant}/agents/{AGENT}/revisions/{{revision:[^/:]+}}:execute"
        ))
        .route(web::post().to(execute::execute)),
    )
    .service(
        resource(&format!(
            "{tenant}/agents/{AGENT}/revisions/{{revision:[^/:]+}}:stream"
        ))
        .route(web::post().to(execute::stream)),
    )
    .service(
        resource(&format!("{tenant}/agents/{AGENT}/environments:summary"))
            .route(web::get().to(environments::summary)),
    )
    .service(
        resource(&format!("{tenant}/environments"))
            .route(web::get().to(environments::list))
            .route(web::post().to(environments::create)),
    )
    .service(
        resource(&format!("{tenant}/environments:diagnostics"))
            .route(web::get().to(environments::diagnostics)),
    )
    .service(
        resource(&format!("{tenant}/environments/{{slug}}"))
            .route(web::get().to(environments::get))
            .route(web::patch().to(environments::patch))
            .route(web::delete().to(environments::delete)),
    )
    .service(resource(&format!("{tenant}/executions")).route(web::get().to(executions::list)))
    .service(resource(&format!("{tenant}/executions/{{id}}")).route(web::get().to(executions::get)))
    .service(resource(&format!("{tenant}/notifications")).route(web::get().to(notifications::list)))
    .service(
        resource(&format!("{tenant}/settings"))
            .route(web::get().to(settings::get))
            .route(web::put().to(settings::patch))
            .route(web::patch().to(settings::patch)),
    )
    .service(
        resource(&format!("{tenant}/settings:rotateWebhookSecret"))
            .route(web::post().to(settings::rotate_webhook_secret)),
    )
    .service(resource(&format!("{tenant}/budgets")).route(web::get().to(budgets::list)))
    .service(
        resource(&format!("{tenant}/environments/{{slug}}/budget"))
            .route(web::get().to(budgets::get))
            .route(web::put().to(budgets::put))
            .route(web::delete().to(budgets::delete)),
    )
    .service(
        resource(&format!("{tenant}/environments/{{slug}}/budget:status"))
            .route(web::get().to(budgets::status)),
    );
}

/// A resource whose wrong methods get the API's JSON 405 rather than an empty body.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        HttpResponse::from_error(ApiError::method_not_allowed())
    }))
}

/// The answer for paths that match no route.
pub async fn not_found() -> HttpResponse {
    HttpResponse::from_error(ApiError::not_found("no such path in the fruxon API"))
}
