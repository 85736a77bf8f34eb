//! Identifiers: tenant and agent ids parsed from paths and bodies, and execution ids minted here.

use std::fmt;

use crate::error::ApiError;

/// A tenant (organization) id: the same shape as an environment slug, since it too ends up in
/// URLs, e-mail subjects and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id given on the command line.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (2..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(TenantId(raw.to_string()))
        } else {
            Err(format!(
                "tenant id '{}' must be 2 to 64 lower-case letters, digits or '_', \
                 starting with a letter",
                raw.escape_debug()
            ))
        }
    }

    /// Wraps an id read back from the database or from a path that was matched against it.
    pub fn from_trusted(raw: String) -> Self {
        TenantId(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agent id: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentId(String);

impl AgentId {
    /// Parses an agent id from `field`; used for creation, where a bad id is a 400.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        if Self::is_valid(raw) {
            return Ok(AgentId(raw.to_string()));
        }
        Err(ApiError::invalid_field(
            field,
            format!(
                "{field} '{}' must be 1 to 64 lower-case letters, digits, '-' or '_', \
                 starting with a letter or digit",
                crate::domain::slug::abbreviate(raw)
            ),
        ))
    }

    /// Parses an agent id from a URL path: an id that cannot exist is simply not found.
    pub fn from_path(raw: &str) -> Result<Self, ApiError> {
        if Self::is_valid(raw) {
            return Ok(AgentId(raw.to_string()));
        }
        Err(ApiError::not_found(format!(
            "agent '{}' does not exist",
            crate::domain::slug::abbreviate(raw)
        ))
        .with("agent", raw))
    }

    fn is_valid(raw: &str) -> bool {
        (1..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Mints a time-ordered execution id in the ULID layout: 48 bits of milliseconds, then 80
/// random bits, as 26 Crockford base-32 characters. Ids sort by creation time to the
/// millisecond; the commit order that paging relies on is kept separately by the database.
pub fn new_execution_id(now_ms: i64) -> String {
    let mut random = [0u8; 10];
    fill_random(&mut random);
    let mut value: u128 = (now_ms as u128 & 0xFFFF_FFFF_FFFF) << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= (*byte as u128) << (8 * (9 - i));
    }

    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (25 - i);
        *slot = CROCKFORD[((value >> shift) & 0x1F) as usize];
    }
    String::from_utf8(out.to_vec()).expect("the alphabet is ASCII")
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    // Without a working OS random source no key or id can be trusted, so stop loudly.
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xF) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_sort_by_time() {
        let a = new_execution_id(1_700_000_000_000);
        let b = new_execution_id(1_700_000_000_001);
        assert_eq!(a.len(), 26);
        assert!(a < b);
    }
}
