//! List paging: `pageSize` and an opaque `pageToken`, per the API conventions.

use crate::domain::ids::hex;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

/// A validated page request: how many rows, and the cursor to continue after.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub size: usize,
    /// The sort key of the last row of the previous page.
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses `pageSize` and `pageToken` as they came in the query string.
    pub fn parse(size: Option<&str>, token: Option<&str>) -> ApiResult<PageRequest> {
        let size = match size {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "pageSize",
                        format!("pageSize must be an integer from 1 to {MAX_PAGE_SIZE}"),
                    )
                })?,
        };
        let after = token.filter(|t| !t.is_empty()).map(decode).transpose()?;
        Ok(PageRequest { size, after })
    }

    /// Given up to `size + 1` rows, keeps `size` and returns the token for the next page, if
    /// the extra row proved there is one.
    pub fn next_token<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> String) -> Option<String> {
        if rows.len() <= self.size {
            return None;
        }
        rows.truncate(self.size);
        rows.last().map(|row| hex(key(row).as_bytes()))
    }
}

/// Tokens are the hex of the cursor: opaque to clients, and never able to smuggle SQL.
fn decode(token: &str) -> ApiResult<String> {
    let invalid = || {
        ApiError::invalid_field(
            "pageToken",
            "pageToken is not one this server issued; start again without it",
        )
    };
    if !token.len().is_multiple_of(2) || token.len() > 512 {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map_err(|_| invalid())
}
