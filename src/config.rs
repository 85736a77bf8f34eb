//! Settings: flags first, then `FRUXON_*` environment variables, then defaults.

use std::path::PathBuf;

/// The cap on environments per tenant when neither the tenant nor the environment sets one.
pub const DEFAULT_ENVIRONMENT_CAP: i64 = 1000;

/// Everything the service needs to start, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The SQLite file.
    pub db_path: PathBuf,
    /// Address and port to listen on; port 0 picks a free one (the tests do this).
    pub bind: String,
    /// The cap for tenants without one of their own (`FRUXON_ENVIRONMENT_CAP`).
    pub default_environment_cap: i64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
}

impl Settings {
    /// Settings from the environment alone, before any command-line flag is applied.
    pub fn from_env() -> Result<Settings, String> {
        let cap = match std::env::var("FRUXON_ENVIRONMENT_CAP") {
            Ok(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    format!("FRUXON_ENVIRONMENT_CAP must be a non-negative integer, got '{raw}'")
                })?,
            Err(_) => DEFAULT_ENVIRONMENT_CAP,
        };
        Ok(Settings {
            db_path: std::env::var_os("FRUXON_DB")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./fruxon.db")),
            bind: std::env::var("FRUXON_BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_string()),
            default_environment_cap: cap,
            workers: 0,
        })
    }

    /// Settings for a database file with every other value at its default.
    pub fn for_db(db_path: PathBuf) -> Settings {
        Settings {
            db_path,
            bind: "127.0.0.1:0".to_string(),
            default_environment_cap: DEFAULT_ENVIRONMENT_CAP,
            workers: 0,
        }
    }
}
