//! The settings and monitoring page: static files embedded in the binary at build time, so the
//! page works offline, with no CDN and no build step.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;

/// Scripts and styles only from this server, no inline code, no framing: a display name that
/// smuggles markup in can never run, even if a rendering bug let it through.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// Every embedded file: its path, content type and bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../static/index.html"),
    ),
    (
        "/static/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "/static/app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
];

/// Serves an embedded file, or the API's JSON 404.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let Some((_, content_type, body)) = FILES.iter().find(|(path, _, _)| *path == req.path())
    else {
        return HttpResponse::from_error(ApiError::not_found("no such page"));
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, *content_type))
        .insert_header((CONTENT_SECURITY_POLICY, CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(*body)
}
