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
    /// Where e-mail goes (`smtp://host:port`, `smtps://user:pass@host`); none means notifications
    /// are kept as `unconfigured`. It may hold a password: never log it whole.
    pub smtp_url: Option<String>,
    /// The sender of notification e-mails.
    pub mail_from: String,
    /// The address people use to reach this server, for links in e-mails.
    pub public_url: Option<String>,
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
            smtp_url: non_empty("FRUXON_SMTP_URL"),
            mail_from: non_empty("FRUXON_MAIL_FROM")
                .unwrap_or_else(|| "fruxon <fruxon@localhost>".to_string()),
            public_url: non_empty("FRUXON_PUBLIC_URL"),
        })
    }

    /// Settings for a database file with every other value at its default.
    pub fn for_db(db_path: PathBuf) -> Settings {
        Settings {
            db_path,
            bind: "127.0.0.1:0".to_string(),
            default_environment_cap: DEFAULT_ENVIRONMENT_CAP,
            workers: 0,
            smtp_url: None,
            mail_from: "fruxon <fruxon@localhost>".to_string(),
            public_url: None,
        }
    }

    /// The SMTP server without its credentials, for logs.
    pub fn smtp_display(&self) -> String {
        match &self.smtp_url {
            None => "not configured (notifications are kept as unconfigured)".to_string(),
            Some(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{host}")
            }
        }
    }

    /// The settings page's address, for links in e-mails.
    pub fn settings_url(&self) -> String {
        match &self.public_url {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("http://{}/", self.bind),
        }
    }
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}
