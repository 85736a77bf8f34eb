//! Who is calling: the `X-API-KEY` header resolved to a tenant and a role.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Role, hash_key};
use crate::domain::ids::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::keys;

/// The header that carries the key.
pub const KEY_HEADER: &str = "X-API-KEY";

/// An authenticated caller whose key belongs to the tenant named in the path.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub role: Role,
    /// The key's public id, for logs; never the key.
    pub key_id: String,
}

/// A caller with the admin role.
pub struct Admin(pub Caller);

/// A caller with any role (both may execute).
pub struct Executor(pub Caller);

async fn authenticate(req: HttpRequest) -> ApiResult<Caller> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("the app state is missing"))?
        .clone();
    let path_tenant = req.match_info().get("tenant").unwrap_or_default().to_string();

    let key = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated(format!("send your API key in the {KEY_HEADER} header"))
        })?;

    let hash = hash_key(key);
    let found = state.store.read(move |c| keys::find_by_hash(c, &hash)).await?;
    let key = match found {
        Some(key) if !key.revoked => key,
        _ => return Err(ApiError::unauthenticated("the API key is unknown or has been revoked")),
    };

    // The same answer whether the tenant is someone else's or does not exist at all, so that
    // a key cannot be used to discover which tenants exist.
    if key.tenant_id != path_tenant {
        return Err(ApiError::permission_denied(format!(
            "this API key may not access tenant '{}'",
            crate::domain::slug::abbreviate(&path_tenant)
        ))
        .with("tenant", path_tenant));
    }

    let role = Role::parse(&key.role)
        .ok_or_else(|| ApiError::internal(format!("key {} has an unknown role", key.id)))?;
    Ok(Caller {
        tenant: TenantId::from_trusted(key.tenant_id),
        role,
        key_id: key.id,
    })
}

impl FromRequest for Executor {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Executor) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            if caller.role != Role::Admin {
                return Err(ApiError::permission_denied(format!(
                    "this API key has the '{}' role, which may only execute agents; \
                     use an admin key",
                    caller.role.as_str()
                ))
                .with("role", caller.role.as_str()));
            }
            Ok(Admin(caller))
        })
    }
}
