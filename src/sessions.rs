//! Browser sessions for the settings page: an admin signs in once with a key and gets an
//! HttpOnly, SameSite=Strict cookie; the key itself never reaches JavaScript-readable storage.
//! Every state-changing request made with the cookie must also carry the session's CSRF token.

use serde::Deserialize;

use crate::auth::{Caller, Role, hash_key, judge};
use crate::domain::ids::{TenantId, fill_random, hex};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::keys;
use crate::storage::sessions::{self, SessionRow};

/// The cookie that carries the session token.
pub const COOKIE: &str = "fruxon_session";
/// The header that must repeat the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// How long a session lasts.
pub const TTL_MS: i64 = 12 * 3600 * 1000;

/// `POST /v1/session`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInBody {
    api_key: String,
}

/// A session just created: the token goes into the cookie, the rest to the page.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub tenant: String,
    pub expires_at: i64,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    hex(&bytes)
}

/// Signs in with an admin key.
pub async fn sign_in(state: &AppState, body: SignInBody) -> ApiResult<NewSession> {
    let hash = hash_key(body.api_key.trim());
    let found = state
        .store
        .read(move |c| keys::find_by_hash(c, &hash))
        .await?;
    let tenant = found
        .as_ref()
        .map(|k| k.tenant_id.clone())
        .unwrap_or_default();
    let caller = judge(found, &tenant)?;
    if caller.role != Role::Admin {
        return Err(ApiError::permission_denied(
            "only an admin key can sign in to the settings page; this one may only execute",
        )
        .with("role", caller.role.as_str()));
    }

    let token = random_hex();
    let now = state.now_ms();
    let row = SessionRow {
        tenant_id: caller.tenant.as_str().to_string(),
        key_id: caller.key_id.clone(),
        csrf_token: random_hex(),
        expires_at: now + TTL_MS,
    };
    let (hash, stored) = (hash_key(&token), row.clone());
    state
        .store
        .write(move |c| sessions::insert(c, &hash, &stored, now))
        .await?;
    log::info!(
        "key {} of tenant {} signed in to the settings page",
        caller.key_id,
        caller.tenant
    );
    Ok(NewSession {
        token,
        csrf_token: row.csrf_token,
        tenant: row.tenant_id,
        expires_at: row.expires_at,
    })
}

/// The live session for a cookie token, if any.
pub async fn find(state: &AppState, token: &str) -> ApiResult<Option<SessionRow>> {
    let (hash, now) = (hash_key(token), state.now_ms());
    Ok(state
        .store
        .read(move |c| sessions::find(c, &hash, now))
        .await?)
}

/// Authenticates a request by its session: the tenant in the path must be the session's, and
/// a state-changing request must repeat the CSRF token.
pub fn authorize(
    session: Option<SessionRow>,
    path_tenant: &str,
    csrf_header: Option<&str>,
    state_changing: bool,
) -> ApiResult<Caller> {
    let session = session.ok_or_else(|| {
        ApiError::unauthenticated("the session has expired or was signed out; sign in again")
    })?;
    if session.tenant_id != path_tenant {
        return Err(ApiError::permission_denied(
            "this session may not access that tenant".to_string(),
        ));
    }
    if state_changing && !csrf_header.is_some_and(|h| same(h, &session.csrf_token)) {
        return Err(ApiError::permission_denied(format!(
            "a request that changes something must carry the session's {CSRF_HEADER} header"
        )));
    }
    Ok(Caller {
        tenant: TenantId::from_trusted(session.tenant_id),
        role: Role::Admin,
        key_id: session.key_id,
    })
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Ends the session of a cookie token.
pub async fn sign_out(state: &AppState, token: &str) -> ApiResult<()> {
    let hash = hash_key(token);
    state
        .store
        .write(move |c| sessions::delete(c, &hash))
        .await?;
    Ok(())
}
