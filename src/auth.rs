//! API keys: how they are minted, hashed and what their roles may do.

use sha2::{Digest, Sha256};

use crate::domain::ids::{fill_random, hex};

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
