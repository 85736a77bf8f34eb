//! The command line: `serve` (the default) and the operator's tenant and key commands.

use std::path::PathBuf;
use std::sync::Arc;

use crate::alerts::AlertSettings;
use crate::auth::Role;
use crate::config::Settings;
use crate::domain::ids::TenantId;
use crate::domain::time::{Clock, SystemClock};
use crate::startup::Application;
use crate::storage::{self, schema};
use crate::tenants;

const USAGE: &str = "\
usage:
  fruxon [serve] [--bind ADDR] [--db PATH]
  fruxon tenant create TENANT [--admin-email EMAIL]... [--db PATH]
  fruxon tenant set-cap TENANT N [--db PATH]
  fruxon key create TENANT --role admin|execute [--db PATH]
  fruxon key revoke KEY_ID [--db PATH]

environment: FRUXON_DB (default ./fruxon.db), FRUXON_BIND (default 127.0.0.1:8080),
  FRUXON_ENVIRONMENT_CAP (default 1000), RUST_LOG (default info)";

/// The parsed command line: positional words and repeated `--flag value` pairs.
struct Args {
    words: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse(raw: Vec<String>) -> Result<Args, String> {
        let mut words = Vec::new();
        let mut flags = Vec::new();
        let mut iter = raw.into_iter();
        while let Some(arg) = iter.next() {
            if arg == "-h" || arg == "--help" {
                words.insert(0, "help".to_string());
            } else if let Some(name) = arg.strip_prefix("--") {
                let (name, value) = match name.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => {
                        let value = iter.next().ok_or(format!("--{name} needs a value"))?;
                        (name.to_string(), value)
                    }
                };
                flags.push((name, value));
            } else {
                words.push(arg);
            }
        }
        Ok(Args { words, flags })
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn only_flags(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option --{n}")),
            None => Ok(()),
        }
    }
}

/// Runs the command line and returns the process's exit code.
pub fn run(raw: Vec<String>) -> i32 {
    let result = Args::parse(raw).and_then(|args| dispatch(&args));
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("fruxon: {message}");
            2
        }
    }
}

fn dispatch(args: &Args) -> Result<(), String> {
    let mut settings = Settings::from_env()?;
    if let Some(db) = args.flag("db") {
        settings.db_path = PathBuf::from(db);
    }
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["serve"] => {
            args.only_flags(&["db", "bind"])?;
            if let Some(bind) = args.flag("bind") {
                settings.bind = bind.to_string();
            }
            serve(settings)
        }
        ["help"] => {
            println!("{USAGE}");
            Ok(())
        }
        ["tenant", "create", tenant] => {
            args.only_flags(&["db", "admin-email"])?;
            let tenant = TenantId::parse(tenant)?;
            let emails = args
                .all("admin-email")
                .into_iter()
                .map(tenants::parse_email)
                .collect::<Result<Vec<_>, _>>()?;
            let mut conn = open(&settings)?;
            let key = tenants::create(&mut conn, &tenant, &emails, now())?;
            log::info!("tenant {tenant} created with admin key {}", key.id);
            println!(
                "tenant '{tenant}' created; its admin key (id {}) is shown once:",
                key.id
            );
            println!("{}", key.text);
            Ok(())
        }
        ["tenant", "set-cap", tenant, cap] => {
            args.only_flags(&["db"])?;
            let tenant = TenantId::parse(tenant)?;
            let cap: i64 = cap.parse().ok().filter(|n| *n >= 0).ok_or(format!(
                "the cap must be a non-negative integer, got '{cap}'"
            ))?;
            let alerting = AlertSettings {
                default_cap: settings.default_environment_cap,
                settings_url: settings.settings_url(),
            };
            tenants::set_cap(&mut open(&settings)?, &tenant, cap, &alerting, now())?;
            log::info!("tenant {tenant}'s environment cap set to {cap}");
            println!("tenant '{tenant}' may now have {cap} environments");
            Ok(())
        }
        ["key", "create", tenant] => {
            args.only_flags(&["db", "role"])?;
            let tenant = TenantId::parse(tenant)?;
            let role = args
                .flag("role")
                .and_then(Role::parse)
                .ok_or("key create needs --role admin or --role execute")?;
            let key = tenants::create_key(&mut open(&settings)?, &tenant, role, now())?;
            log::info!(
                "{} key {} created for tenant {tenant}",
                role.as_str(),
                key.id
            );
            println!(
                "{} key (id {}) for tenant '{tenant}', shown once:",
                role.as_str(),
                key.id
            );
            println!("{}", key.text);
            Ok(())
        }
        ["key", "revoke", key_id] => {
            args.only_flags(&["db"])?;
            tenants::revoke_key(&open(&settings)?, key_id, now())?;
            log::info!("key {key_id} revoked");
            println!("key {key_id} revoked");
            Ok(())
        }
        _ => Err(format!("unknown command\n{USAGE}")),
    }
}

fn now() -> i64 {
    SystemClock.now_ms()
}

/// Opens the database for a one-off command, migrating it like the server would.
fn open(settings: &Settings) -> Result<rusqlite::Connection, String> {
    let mut conn = storage::open_connection(&settings.db_path).map_err(|e| e.to_string())?;
    schema::migrate(&mut conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn serve(settings: Settings) -> Result<(), String> {
    let bind = settings.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
        if let Some(key) = &app.demo_key {
            print_demo(&bind, app.port(), &key.text);
        }
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// The first start's welcome: the demo key (shown once) and a curl line that works as pasted.
fn print_demo(bind: &str, port: u16, key: &str) {
    let host = match bind.rsplit_once(':').map(|(h, _)| h) {
        Some("0.0.0.0") | Some("[::]") | None => "127.0.0.1",
        Some(h) => h,
    };
    println!(
        "\nCreated tenant '{}' with the echo agent '{}'.\n\
         Its admin API key is shown once; keep it:\n\n  {key}\n\nTry it:\n\n  \
         curl -s -X POST http://{host}:{port}/v1/tenants/{}/agents/{}:execute \
         -H 'X-API-KEY: {key}' -H 'Content-Type: application/json' \
         -d '{{\"parameters\": {{\"question\": \"hello\"}}, \"environmentSlug\": \"acme_corp\"}}'\n",
        tenants::DEMO_TENANT,
        tenants::DEMO_AGENT,
        tenants::DEMO_TENANT,
        tenants::DEMO_AGENT,
    );
}
