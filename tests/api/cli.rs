//! The operator's command line: tenants, keys and caps, against the running server's database.

use std::process::Output;

use serde_json::json;

use crate::helpers::{key_id, last_line, spawn_app};

/// Asserts a failed command: a non-zero exit and a message on stderr mentioning `mention`.
#[track_caller]
fn assert_fails(output: &Output, mention: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the command should fail; stderr: {stderr}"
    );
    assert!(
        stderr.contains(mention),
        "stderr should mention {mention:?}: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("fx_"),
        "a failing command prints no key: {stdout}"
    );
}

#[actix_web::test]
async fn tenant_create_stores_admin_emails_and_prints_a_working_key() {
    let app = spawn_app().await;

    let output = app.cli(&[
        "tenant",
        "create",
        "acme",
        "--admin-email",
        "ops@acme.test",
        "--admin-email",
        "cto@acme.test",
    ]);

    let key = last_line(&output);
    assert!(
        key.starts_with("fx_") && key.len() >= 3 + 32,
        "a key of 128+ bits: {output}"
    );
    let emails: Vec<String> = app
        .db()
        .prepare("SELECT email FROM admin_emails WHERE tenant_id = 'acme' ORDER BY email")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(emails, ["cto@acme.test", "ops@acme.test"]);
    let agents = app
        .send("GET", "/v1/tenants/acme/agents", Some(&key), None)
        .await;
    assert_eq!(agents.status, 200, "{}", agents.text);
    assert_eq!(agents.body["agents"], json!([]));
    let role: String = app
        .db()
        .query_row(
            "SELECT role FROM api_keys WHERE tenant_id = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(role, "admin");
}

#[actix_web::test]
async fn keys_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let (id, key) = app.create_key("demo", "execute");

    let stored_as_text = app.db().query_row(
        "SELECT count(*) FROM api_keys WHERE id = ?1 OR hash = ?1 OR CAST(hash AS TEXT) = ?1",
        [&key],
        |r| r.get::<_, i64>(0),
    );
    assert_eq!(
        stored_as_text.unwrap(),
        0,
        "the key text is nowhere in api_keys"
    );
    let hash: Vec<u8> = app
        .db()
        .query_row("SELECT hash FROM api_keys WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    use sha2::Digest;
    assert_eq!(
        hash,
        sha2::Sha256::digest(key.as_bytes()).to_vec(),
        "a SHA-256 of the key"
    );
    assert_ne!(key, app.admin_key, "every key is new");
}

#[actix_web::test]
async fn invalid_admin_emails_are_refused_and_create_nothing() {
    let app = spawn_app().await;
    let before = app.stored();
    // (address, why it must fail)
    let cases = [
        ("not-an-email", "no @"),
        ("ops@localhost", "no dot in the domain"),
        ("@acme.test", "no local part"),
        ("ops@@acme.test", "two @"),
        ("ops @acme.test", "a space"),
        ("ops@acme.test,cto@acme.test", "two addresses in one"),
        ("ops@acme.test\nBcc: x@evil.test", "a header injection"),
        ("", "empty"),
    ];

    for (email, why) in cases {
        let output = app.cli_output(&["tenant", "create", "acme", "--admin-email", email]);
        let mention = email.lines().next().unwrap_or_default();
        assert!(!output.status.success(), "{why}: {email:?} was accepted");
        assert_fails(&output, mention);
    }

    assert_eq!(app.stored(), before, "no tenant, key or e-mail was created");
}

#[actix_web::test]
async fn creating_an_existing_or_invalid_tenant_fails() {
    let app = spawn_app().await;
    let before = app.stored();

    assert_fails(&app.cli_output(&["tenant", "create", "demo"]), "demo");
    // (tenant id, why it must fail)
    for (tenant, why) in [
        ("Acme-Corp", "upper case and a hyphen"),
        ("a", "one character"),
        ("9lives", "a leading digit"),
        ("x'; DROP TABLE tenants;--", "an injection attempt"),
    ] {
        let output = app.cli_output(&["tenant", "create", tenant]);
        assert!(!output.status.success(), "{why}: {tenant:?} was accepted");
    }

    assert_eq!(app.stored(), before, "nothing was created");
}

#[actix_web::test]
async fn key_create_prints_a_key_that_authenticates_with_its_role() {
    let app = spawn_app().await;

    let admin = app.cli(&["key", "create", "demo", "--role", "admin"]);
    let execute = app.cli(&["key", "create", "demo", "--role", "execute"]);

    let (admin, execute) = (last_line(&admin), last_line(&execute));
    let listed = app
        .send("GET", "/v1/tenants/demo/agents", Some(&admin), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ran = app
        .post_as(
            Some(&execute),
            "/v1/tenants/demo/agents/support-bot:execute",
            &json!({"parameters": {}}),
        )
        .await;
    ran.execution_id();
    let denied = app
        .send("GET", "/v1/tenants/demo/agents", Some(&execute), None)
        .await;
    denied.assert_error(403, "PERMISSION_DENIED");
}

#[actix_web::test]
async fn key_create_refuses_a_missing_role_or_tenant() {
    let app = spawn_app().await;
    let before = app.stored();

    assert_fails(&app.cli_output(&["key", "create", "demo"]), "--role");
    assert_fails(
        &app.cli_output(&["key", "create", "demo", "--role", "owner"]),
        "--role",
    );
    assert_fails(
        &app.cli_output(&["key", "create", "nosuch", "--role", "admin"]),
        "nosuch",
    );

    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn a_revoked_key_is_refused_from_the_next_request() {
    let app = spawn_app().await;
    let output = app.cli(&["key", "create", "demo", "--role", "execute"]);
    let (id, key) = (key_id(&output), last_line(&output));
    let path = "/v1/tenants/demo/agents/support-bot:execute";
    app.post_as(Some(&key), path, &json!({"parameters": {}}))
        .await
        .execution_id();

    app.cli(&["key", "revoke", &id]);

    let refused = app
        .post_as(Some(&key), path, &json!({"parameters": {}}))
        .await;
    refused.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(app.count("SELECT count(*) FROM executions"), 1);
    let admin = app.get("/v1/tenants/demo/agents").await;
    assert_eq!(admin.status, 200, "other keys keep working: {}", admin.text);
    assert_fails(&app.cli_output(&["key", "revoke", &id]), &id);
    assert_fails(
        &app.cli_output(&["key", "revoke", "key_000000000000"]),
        "key_000000000000",
    );
}

#[actix_web::test]
async fn set_cap_refuses_unknown_tenants_and_bad_numbers() {
    let app = spawn_app().await;
    let cap = || -> Option<i64> {
        app.db()
            .query_row(
                "SELECT environment_cap FROM tenants WHERE id = 'demo'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };

    assert_fails(
        &app.cli_output(&["tenant", "set-cap", "nosuch", "5"]),
        "nosuch",
    );
    for (n, why) in [
        ("-1", "negative"),
        ("many", "not a number"),
        ("1.5", "a fraction"),
    ] {
        let output = app.cli_output(&["tenant", "set-cap", "demo", n]);
        assert!(!output.status.success(), "{why}: {n} was accepted");
    }
    assert_eq!(cap(), None, "the default cap is still in force");

    app.cli(&["tenant", "set-cap", "demo", "7"]);
    assert_eq!(cap(), Some(7));
    assert_eq!(
        app.count("SELECT count(*) FROM tenants"),
        1,
        "no tenant was created"
    );
}

#[actix_web::test]
async fn unknown_commands_and_options_fail() {
    let app = spawn_app().await;
    let before = app.stored();

    for args in [
        &["tenant", "delete", "demo"][..],
        &[
            "key",
            "create",
            "demo",
            "--role",
            "admin",
            "--forever",
            "yes",
        ][..],
        &["tenant", "create", "acme", "--admin", "ops@acme.test"][..],
    ] {
        let output = app.cli_output(args);
        assert!(!output.status.success(), "{args:?} was accepted");
    }

    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn commands_find_the_database_through_fruxon_db() {
    let app = spawn_app().await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fruxon"))
        .args(["tenant", "create", "via_env"])
        .env("FRUXON_DB", &app.db_path)
        .output()
        .expect("the binary runs");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tenants WHERE id = 'via_env'"),
        1
    );
    let key = last_line(&String::from_utf8_lossy(&output.stdout));
    let agents = app
        .send("GET", "/v1/tenants/via_env/agents", Some(&key), None)
        .await;
    assert_eq!(agents.status, 200, "{}", agents.text);
}
