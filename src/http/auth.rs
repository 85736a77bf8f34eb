//! Who is calling: the `X-API-KEY` header resolved to a tenant and a role.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Caller, KEY_HEADER, judge, presented_key};
use crate::error::{ApiError, ApiResult};
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

async fn authenticate(req: HttpRequest) -> ApiResult<Caller> {
    let state = app_state(&req)?;
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
