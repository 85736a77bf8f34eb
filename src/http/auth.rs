//! Who is calling: the `X-API-KEY` header resolved to a tenant and a role.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Caller, KEY_HEADER, judge, presented_key};
use crate::error::{ApiError, ApiResult};
use crate::sessions;
use crate::state::AppState;
use crate::storage::keys;

/// A caller with the admin role.
pub struct Admin(pub Caller);

/// The key header's value, if it is text.
pub fn key_header(req: &HttpRequest) -> Option<&str> {
    req.headers().get(KEY_HEADER).and_then(|v| v.to_str().ok())
}

/// The tenant named in the path.
pub fn path_tenant(req: &HttpRequest) -> String {
    req.match_info()
        .get("tenant")
        .unwrap_or_default()
        .to_string()
}

/// The app state, which every app built by `startup` carries.
pub fn app_state(req: &HttpRequest) -> ApiResult<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("the app state is missing"))
}

/// The session cookie's token, if the request carries one.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get(actix_web::http::header::COOKIE)?
        .to_str()
        .ok()?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == sessions::COOKIE && !value.is_empty()).then(|| value.to_string())
    })
}

/// Whether the request's `Origin`, when it has one, is this server itself. Browsers send it on
/// cross-site requests, so a page elsewhere cannot pass for the settings page.
pub fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return true;
    };
    let host = req.connection_info().host().to_string();
    let origin = origin.to_str().unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// An API key when the request sends one, else the browser session.
async fn authenticate(req: HttpRequest) -> ApiResult<Caller> {
    let state = app_state(&req)?;
    if key_header(&req).is_none()
        && let Some(token) = session_cookie(&req)
    {
        let changing = !matches!(*req.method(), Method::GET | Method::HEAD);
        if changing && !same_origin(&req) {
            return Err(ApiError::permission_denied(
                "a cross-site request may not change anything",
            ));
        }
        let csrf = req
            .headers()
            .get(sessions::CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        let session = sessions::find(&state, &token).await?;
        return sessions::authorize(session, &path_tenant(&req), csrf, changing);
    }

    let hash = presented_key(key_header(&req))?;
    let found = state
        .store
        .read(move |c| keys::find_by_hash(c, &hash))
        .await?;
    judge(found, &path_tenant(&req))
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            caller.require_admin()?;
            Ok(Admin(caller))
        })
    }
}
