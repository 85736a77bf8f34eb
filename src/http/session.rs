//! Handlers for signing in to and out of the settings page.

use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use crate::domain::time::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{same_origin, session_cookie};
use crate::http::body::JsonBody;
use crate::sessions::{self, COOKIE, CSRF_HEADER, SignInBody, TTL_MS};
use crate::state::AppState;

/// The cookie: unreadable by scripts, never sent cross-site, `Secure` when served over HTTPS.
fn cookie(req: &HttpRequest, value: &str, max_age_s: i64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")
}

pub async fn sign_in(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SignInBody>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    // Another site must not be able to sign a visitor in to an account of its choosing.
    if !same_origin(&req) {
        return Err(ApiError::permission_denied(
            "a cross-site page may not sign in",
        ));
    }
    let session = sessions::sign_in(&state, body).await?;

    // Signing in again replaces the browser's session: the one its cookie held ends here
    // rather than staying valid, unseen, until it expires.
    if let Some(previous) = session_cookie(&req) {
        sessions::sign_out(&state, &previous).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((SET_COOKIE, cookie(&req, &session.token, TTL_MS / 1000)))
        .json(json!({
            "tenant": session.tenant,
            "expiresAt": rfc3339(session.expires_at),
            "csrfToken": session.csrf_token,
        })))
}

pub async fn current(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let token = session_cookie(&req).ok_or_else(|| ApiError::unauthenticated("not signed in"))?;
    let session = sessions::find(&state, &token)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the session has expired; sign in again"))?;
    Ok(HttpResponse::Ok().json(json!({
        "tenant": session.tenant_id,
        "expiresAt": rfc3339(session.expires_at),
        "csrfToken": session.csrf_token,
    })))
}

/// Signs out: ends the session on the server and clears the cookie. Like every state change
/// made with the cookie it needs the CSRF token, so another site cannot sign a user out.
pub async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let token = session_cookie(&req).ok_or_else(|| ApiError::unauthenticated("not signed in"))?;
    let session = sessions::find(&state, &token).await?;

    // A cookie whose session has ended is of no use: it is cleared even though there is
    // nothing left to sign out of. A live session still needs its CSRF token.
    if session.is_none() {
        let mut response =
            ApiError::unauthenticated("the session had already ended").error_response();
        if let Ok(clear) = HeaderValue::from_str(&cookie(&req, "", 0)) {
            response.headers_mut().insert(SET_COOKIE, clear);
        }
        return Ok(response);
    }
    let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let tenant = session
        .as_ref()
        .map(|s| s.tenant_id.clone())
        .unwrap_or_default();
    sessions::authorize(session, &tenant, csrf, true)?;
    sessions::sign_out(&state, &token).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((SET_COOKIE, cookie(&req, "", 0)))
        .finish())
}
