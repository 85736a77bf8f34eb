//! API keys: how they are minted, hashed and what their roles may do.

use sha2::{Digest, Sha256};

use crate::domain::ids::{TenantId, fill_random, hex};
use crate::domain::slug::abbreviate;
use crate::error::{ApiError, ApiResult};
use crate::storage::keys::KeyRow;

/// The header that carries the key.
pub const KEY_HEADER: &str = "X-API-KEY";

/// What a key may do within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything in its tenant.
    Admin,
    /// Only `:execute` and `:stream`.
    Execute,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "admin" => Some(Role::Admin),
            "execute" => Some(Role::Execute),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Execute => "execute",
        }
    }
}

/// A freshly minted key: the text is shown once and then only its hash exists.
pub struct NewKey {
    /// The public handle, used to revoke the key; safe to log.
    pub id: String,
    /// The secret the client sends in `X-API-KEY`.
    pub text: String,
    pub hash: Vec<u8>,
}

/// Mints a key with 256 random bits of secret and a 48-bit public id.
pub fn mint_key() -> NewKey {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    fill_random(&mut id);
    fill_random(&mut secret);
    let id = format!("key_{}", hex(&id));
    let text = format!("fx_{}", hex(&secret));
    let hash = hash_key(&text);
    NewKey { id, text, hash }
}

/// The stored form of a key. A plain SHA-256 suffices because keys are long random strings,
/// not passwords: there is nothing to guess that a slow hash would protect.
pub fn hash_key(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// An authenticated caller whose key belongs to the tenant named in the path.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub role: Role,
    /// The key's public id, for logs; never the key.
    pub key_id: String,
}

impl Caller {
    /// Refuses callers whose role is not admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.role == Role::Admin {
            return Ok(());
        }
        Err(ApiError::permission_denied(format!(
            "this API key has the '{}' role, which may only execute agents; use an admin key",
            self.role.as_str()
        ))
        .with("role", self.role.as_str()))
    }
}

/// The hash of the key a request presented, or a 401 when it presented none.
pub fn presented_key(header: Option<&str>) -> ApiResult<Vec<u8>> {
    let key = header
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated(format!("send your API key in the {KEY_HEADER} header"))
        })?;
    Ok(hash_key(key))
}

/// Decides what the key found for the presented hash may do on the tenant in the path.
pub fn judge(found: Option<KeyRow>, path_tenant: &str) -> ApiResult<Caller> {
    let key = match found {
        Some(key) if !key.revoked => key,
        _ => {
            return Err(ApiError::unauthenticated(
                "the API key is unknown or has been revoked",
            ));
        }
    };

    // The same answer whether the tenant is someone else's or does not exist at all, so that
    // a key cannot be used to discover which tenants exist.
    if key.tenant_id != path_tenant {
        return Err(ApiError::permission_denied(format!(
            "this API key may not access tenant '{}'",
            abbreviate(path_tenant)
        ))
        .with("tenant", abbreviate(path_tenant)));
    }

    let role = Role::parse(&key.role)
        .ok_or_else(|| ApiError::internal(format!("key {} has an unknown role", key.id)))?;
    Ok(Caller {
        tenant: TenantId::from_trusted(key.tenant_id),
        role,
        key_id: key.id,
    })
}
