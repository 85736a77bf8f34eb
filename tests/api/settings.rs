//! Tenant settings: the admin e-mails an admin key may change, and the environment cap that
//! only the operator's CLI may change.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn settings_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/settings")
}

/// The sorted admin e-mails of a settings reply.
#[track_caller]
fn emails(settings: &Value) -> Vec<String> {
    let mut emails: Vec<String> = settings["adminEmails"]
        .as_array()
        .unwrap_or_else(|| panic!("no adminEmails: {settings}"))
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails
}

fn stored_emails(app: &TestApp, tenant: &str) -> Vec<String> {
    let db = app.db();
    let mut stmt = db
        .prepare("SELECT email FROM admin_emails WHERE tenant_id = ?1 ORDER BY email")
        .unwrap();
    stmt.query_map([tenant], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn patch_as(app: &TestApp, key: &str, tenant: &str, body: &Value) -> crate::helpers::Reply {
    let raw = body.to_string();
    app.send(
        "PATCH",
        &settings_path(tenant),
        Some(key),
        Some(raw.as_bytes()),
    )
    .await
}

async fn get_as(app: &TestApp, key: &str, tenant: &str) -> crate::helpers::Reply {
    app.send("GET", &settings_path(tenant), Some(key), None)
        .await
}

#[actix_web::test]
async fn settings_show_the_cap_and_the_admin_emails_the_operator_set() {
    let app = spawn_app().await;
    let key = app.cli_key(&[
        "tenant",
        "create",
        "acme_inc",
        "--admin-email",
        "ops@acme.example",
        "--admin-email",
        "a@b.co",
    ]);

    let first = get_as(&app, &key, "acme_inc").await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.body["environmentCap"], 1000,
        "the default cap: {}",
        first.text
    );
    assert_eq!(emails(&first.body), ["a@b.co", "ops@acme.example"]);

    app.cli(&["tenant", "set-cap", "acme_inc", "7"]);
    let capped = get_as(&app, &key, "acme_inc").await;
    assert_eq!(capped.body["environmentCap"], 7, "{}", capped.text);
    assert_eq!(emails(&capped.body), ["a@b.co", "ops@acme.example"]);

    let demo = app.get(&settings_path("demo")).await;
    assert_eq!(demo.status, 200, "{}", demo.text);
    assert_eq!(
        demo.body["environmentCap"], 1000,
        "other tenants keep theirs"
    );
}

#[actix_web::test]
async fn patching_admin_emails_replaces_them() {
    let app = spawn_app().await;
    let key = app.cli_key(&[
        "tenant",
        "create",
        "acme_inc",
        "--admin-email",
        "old@acme.example",
    ]);
    let wanted = ["billing@acme.example", "cto+fruxon@acme.co.uk"];

    let patched = patch_as(&app, &key, "acme_inc", &json!({"adminEmails": wanted})).await;

    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(emails(&patched.body), wanted);
    assert_eq!(patched.body["environmentCap"], 1000);
    assert_eq!(emails(&get_as(&app, &key, "acme_inc").await.body), wanted);
    assert_eq!(
        stored_emails(&app, "acme_inc"),
        wanted,
        "the old one is gone"
    );

    let again = patch_as(
        &app,
        &key,
        "acme_inc",
        &json!({"adminEmails": ["solo@acme.example"]}),
    )
    .await;
    assert_eq!(emails(&again.body), ["solo@acme.example"]);
    assert_eq!(stored_emails(&app, "acme_inc"), ["solo@acme.example"]);
    assert!(
        stored_emails(&app, "demo").is_empty(),
        "another tenant is untouched"
    );
}

#[actix_web::test]
async fn invalid_admin_emails_are_refused_naming_the_entry() {
    let app = spawn_app().await;
    let key = app.cli_key(&[
        "tenant",
        "create",
        "acme_inc",
        "--admin-email",
        "keep@acme.example",
    ]);
    // (adminEmails, reason, field, why it must fail)
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            json!(["ok@acme.example", "not-an-email"]),
            "INVALID_ARGUMENT",
            "adminEmails[1]",
            "no '@'; the good first entry does not excuse it",
        ),
        (
            json!(["@acme.example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "no local part",
        ),
        (
            json!(["ops@"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "no domain",
        ),
        (
            json!(["ops@localhost"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "no dot in the domain",
        ),
        (
            json!(["ops@@acme.example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "two '@'",
        ),
        (
            json!(["o ps@acme.example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "a space",
        ),
        (
            json!(["a@acme.example,b@acme.example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "two addresses in one entry",
        ),
        (
            json!(["ops@acme.example\nBcc: evil@example.com"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "a header injection",
        ),
        (
            json!(["a<b@acme.example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "an angle bracket the mailer would refuse at send time",
        ),
        (
            json!(["ops@acme..example"]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "an empty label in the domain",
        ),
        (json!([""]), "INVALID_ARGUMENT", "adminEmails[0]", "empty"),
        (
            json!([format!("{}@acme.example", "a".repeat(250))]),
            "INVALID_ARGUMENT",
            "adminEmails[0]",
            "longer than an address may be",
        ),
        (
            json!("ops@acme.example"),
            "INVALID_ARGUMENT",
            "adminEmails",
            "not a list",
        ),
    ];

    for (value, reason, field, why) in &cases {
        let reply = patch_as(&app, &key, "acme_inc", &json!({"adminEmails": value})).await;
        reply.assert_refused(400, reason, why);
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
        assert!(reply.message().contains(field), "{why}: {}", reply.text);
        assert_eq!(
            stored_emails(&app, "acme_inc"),
            ["keep@acme.example"],
            "{why}"
        );
    }

    let typo = patch_as(
        &app,
        &key,
        "acme_inc",
        &json!({"admin_emails": ["x@acme.example"]}),
    )
    .await;
    typo.assert_error(400, "UNKNOWN_FIELD");
    assert_eq!(
        typo.metadata()["suggestion"],
        "adminEmails",
        "{}",
        typo.text
    );
    assert_eq!(stored_emails(&app, "acme_inc"), ["keep@acme.example"]);
}

#[actix_web::test]
async fn the_cap_cannot_be_changed_over_http() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "5"]);
    let before = app.stored();
    // (body, why it must fail)
    let cases = [
        (json!({"environmentCap": 5000}), "the operator sets the cap"),
        (json!({"environmentCap": 5}), "even to the value it has"),
        (
            json!({"environmentCap": null}),
            "null would read as lifting the cap, and must not be ignored silently",
        ),
        (
            json!({"environmentCap": 5000, "adminEmails": ["ops@acme.example"]}),
            "a valid e-mail change does not carry the cap along",
        ),
    ];

    for (body, why) in &cases {
        let reply = app
            .send(
                "PATCH",
                &settings_path("demo"),
                Some(&app.admin_key),
                Some(body.to_string().as_bytes()),
            )
            .await;
        reply.assert_refused(400, "INVALID_ARGUMENT", why);
        assert_eq!(
            reply.metadata()["field"],
            "environmentCap",
            "{why}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before, "nothing changed");
    let settings = app.get(&settings_path("demo")).await;
    assert_eq!(settings.body["environmentCap"], 5);
    assert_eq!(settings.body["adminEmails"], json!([]));
    for i in 0..5 {
        app.execute_in(&format!("env_{i}")).await.execution_id();
    }
    app.execute_in("env_5")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
}

#[actix_web::test]
async fn only_an_admin_key_of_the_tenant_reads_or_changes_its_settings() {
    let app = spawn_app().await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_admin = app.cli_key(&[
        "tenant",
        "create",
        "other",
        "--admin-email",
        "o@other.example",
    ]);
    let before = app.stored();
    let change = json!({"adminEmails": ["intruder@evil.example"]});
    // (key, status, reason, why it must fail)
    let callers = [
        (
            Some(execute_key.as_str()),
            403,
            "PERMISSION_DENIED",
            "an execute key only runs agents",
        ),
        (
            Some(other_admin.as_str()),
            403,
            "PERMISSION_DENIED",
            "another tenant's admin",
        ),
        (None, 401, "UNAUTHENTICATED", "no key"),
        (
            Some("fx_not_a_key"),
            401,
            "UNAUTHENTICATED",
            "an unknown key",
        ),
    ];

    for (key, status, reason, why) in callers {
        let read = app.send("GET", &settings_path("demo"), key, None).await;
        assert_eq!(read.status.as_u16(), status, "{why}: {}", read.text);
        read.assert_error(status, reason);
        let raw = change.to_string();
        let write = app
            .send("PATCH", &settings_path("demo"), key, Some(raw.as_bytes()))
            .await;
        assert_eq!(write.status.as_u16(), status, "{why}: {}", write.text);
        write.assert_error(status, reason);
    }

    assert_eq!(app.stored(), before);
    assert!(stored_emails(&app, "demo").is_empty());
    assert_eq!(stored_emails(&app, "other"), ["o@other.example"]);
}
