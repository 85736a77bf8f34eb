//! Browser sessions through the API: the cookie's attributes, the CSRF token on every change,
//! the origin check, expiry, revocation with the key, and sign-out.

use serde_json::{Value, json};

use crate::helpers::{ManualClock, TestApp, spawn_app_with_clock};

const SESSION: &str = "/v1/session";
const SETTINGS: &str = "/v1/tenants/demo/settings";

/// One reply, with the headers a session test looks at.
struct Answer {
    status: u16,
    body: Value,
    set_cookie: Option<String>,
}

impl Answer {
    fn reason(&self) -> &str {
        self.body["error"]["details"][0]["reason"]
            .as_str()
            .unwrap_or("")
    }
}

/// Sends a request as a browser would: with the cookie, and optionally the CSRF header and
/// an `Origin`, never with an API key.
async fn browser(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    origin: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = awc::Client::default()
        .request(method, format!("{}{path}", app.address))
        .insert_header(("Content-Type", "application/json"));
    if let Some(cookie) = cookie {
        request = request.insert_header(("Cookie", format!("fruxon_session={cookie}")));
    }
    if let Some(csrf) = csrf {
        request = request.insert_header(("X-CSRF-Token", csrf));
    }
    if let Some(origin) = origin {
        request = request.insert_header(("Origin", origin));
    }
    let mut response = match body {
        Some(body) => request.send_body(body.to_string()).await,
        None => request.send().await,
    }
    .expect("the request is answered");
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response.body().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        set_cookie,
    }
}

/// Signs in with `key`; returns the cookie's value and the CSRF token.
async fn sign_in(app: &TestApp, key: &str) -> (String, String) {
    let reply = browser(
        app,
        "POST",
        SESSION,
        None,
        None,
        None,
        Some(&json!({"apiKey": key})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let set_cookie = reply.set_cookie.expect("signing in sets the cookie");
    let value = set_cookie
        .strip_prefix("fruxon_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("the session cookie: {set_cookie}"))
        .to_string();
    let csrf = reply.body["csrfToken"].as_str().unwrap().to_string();
    (value, csrf)
}

fn change() -> Value {
    json!({"adminEmails": ["ops@example.com"]})
}

#[actix_web::test]
async fn the_session_cookie_is_httponly_strict_and_expiring_and_only_its_hash_is_stored() {
    let app = spawn_app_with_clock(&ManualClock::at("2026-03-10T12:00:00Z")).await;
    let body = json!({"apiKey": app.admin_key});

    let reply = browser(&app, "POST", SESSION, None, None, None, Some(&body)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply.set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert_eq!(
        reply.body["expiresAt"], "2026-03-11T00:00:00.000Z",
        "{}",
        reply.body
    );
    assert!(
        !reply.body.to_string().contains(&app.admin_key),
        "{}",
        reply.body
    );
    let token = cookie["fruxon_session=".len()..].split(';').next().unwrap();
    assert!(token.len() >= 32, "a token worth the name: {token}");
    let db = app.db();
    let stored: Vec<u8> = db
        .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, token.as_bytes(), "the token itself is not stored");
}

#[actix_web::test]
async fn a_change_made_with_the_cookie_needs_the_csrf_token_and_the_same_origin() {
    let app = spawn_app_with_clock(&ManualClock::at("2026-03-10T12:00:00Z")).await;
    let (cookie, csrf) = sign_in(&app, &app.admin_key).await;
    let c = Some(cookie.as_str());
    let here = app.address.clone();

    let read = browser(&app, "GET", SETTINGS, c, None, None, None).await;
    assert_eq!(
        read.status, 200,
        "a read needs only the cookie: {}",
        read.body
    );

    // (CSRF header, Origin, why it must be refused)
    let refused: &[(Option<&str>, Option<&str>, &str)] = &[
        (None, None, "no CSRF token"),
        (Some("not-the-token"), None, "a wrong CSRF token"),
        (Some(""), None, "an empty CSRF token"),
        (
            Some(&csrf),
            Some("http://evil.example"),
            "another site's origin",
        ),
        (Some(&csrf), Some("null"), "an opaque origin"),
    ];
    for (token, origin, why) in refused {
        let reply = browser(&app, "PATCH", SETTINGS, c, *token, *origin, Some(&change())).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (403, "PERMISSION_DENIED"),
            "{why}"
        );
    }
    let untouched = browser(&app, "GET", SETTINGS, c, None, None, None).await;
    assert_eq!(untouched.body["adminEmails"], json!([]), "nothing changed");

    let same_site = Some(here.as_str());
    let ok = browser(
        &app,
        "PATCH",
        SETTINGS,
        c,
        Some(&csrf),
        same_site,
        Some(&change()),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["adminEmails"], json!(["ops@example.com"]));
}

#[actix_web::test]
async fn a_session_ends_when_it_expires_when_its_key_is_revoked_and_on_sign_out() {
    let clock = ManualClock::at("2026-03-10T12:00:00Z");
    let app = spawn_app_with_clock(&clock).await;

    // Expiry: twelve hours.
    let (cookie, _) = sign_in(&app, &app.admin_key).await;
    clock.advance(12 * 3_600_000 - 1_000);
    let before = browser(&app, "GET", SETTINGS, Some(&cookie), None, None, None).await;
    assert_eq!(before.status, 200, "{}", before.body);
    clock.advance(2_000);
    let after = browser(&app, "GET", SETTINGS, Some(&cookie), None, None, None).await;
    assert_eq!((after.status, after.reason()), (401, "UNAUTHENTICATED"));

    // Revoking the key ends the sessions it opened.
    let (key_id, key) = app.create_key("demo", "admin");
    let (cookie, _) = sign_in(&app, &key).await;
    app.cli(&["key", "revoke", &key_id]);
    let revoked = browser(&app, "GET", SETTINGS, Some(&cookie), None, None, None).await;
    assert_eq!((revoked.status, revoked.reason()), (401, "UNAUTHENTICATED"));

    // Sign-out needs the token, then the cookie is cleared and dead on the server too.
    let (cookie, csrf) = sign_in(&app, &app.admin_key).await;
    let forged = browser(&app, "DELETE", SESSION, Some(&cookie), None, None, None).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let out = browser(
        &app,
        "DELETE",
        SESSION,
        Some(&cookie),
        Some(&csrf),
        None,
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    let cleared = out.set_cookie.expect("sign-out clears the cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let replayed = browser(&app, "GET", SETTINGS, Some(&cookie), None, None, None).await;
    assert_eq!(
        (replayed.status, replayed.reason()),
        (401, "UNAUTHENTICATED")
    );

    // Signing out with a cookie whose session has ended still clears the cookie.
    let stale = browser(&app, "DELETE", SESSION, Some(&cookie), None, None, None).await;
    assert_eq!((stale.status, stale.reason()), (401, "UNAUTHENTICATED"));
    let cleared = stale.set_cookie.expect("a dead cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[actix_web::test]
async fn signing_in_again_ends_the_session_the_browser_held() {
    let app = spawn_app_with_clock(&ManualClock::at("2026-03-10T12:00:00Z")).await;
    let (first, _) = sign_in(&app, &app.admin_key).await;
    let body = json!({"apiKey": app.admin_key});

    let again = browser(&app, "POST", SESSION, Some(&first), None, None, Some(&body)).await;

    assert_eq!(again.status, 200, "{}", again.body);
    let old = browser(&app, "GET", SETTINGS, Some(&first), None, None, None).await;
    assert_eq!((old.status, old.reason()), (401, "UNAUTHENTICATED"));
    let sessions: i64 = app
        .db()
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 1, "only the new session is left");
}

#[actix_web::test]
async fn only_an_admin_key_signs_in_and_the_session_is_confined_to_its_tenant() {
    let app = spawn_app_with_clock(&ManualClock::at("2026-03-10T12:00:00Z")).await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_key = app.cli_key(&["tenant", "create", "other"]);

    let body = json!({"apiKey": execute_key});
    let refused = browser(&app, "POST", SESSION, None, None, None, Some(&body)).await;
    assert_eq!(
        (refused.status, refused.reason()),
        (403, "PERMISSION_DENIED")
    );
    assert!(
        refused.set_cookie.is_none(),
        "no cookie for a refused sign-in"
    );
    let unknown = json!({"apiKey": format!("fx_{}", "0".repeat(64))});
    let refused = browser(&app, "POST", SESSION, None, None, None, Some(&unknown)).await;
    assert_eq!((refused.status, refused.reason()), (401, "UNAUTHENTICATED"));

    let (cookie, csrf) = sign_in(&app, &other_key).await;
    let c = Some(cookie.as_str());
    let read = browser(&app, "GET", SETTINGS, c, None, None, None).await;
    assert_eq!((read.status, read.reason()), (403, "PERMISSION_DENIED"));
    let write = browser(
        &app,
        "PATCH",
        SETTINGS,
        c,
        Some(&csrf),
        None,
        Some(&change()),
    )
    .await;
    assert_eq!((write.status, write.reason()), (403, "PERMISSION_DENIED"));
    let own = browser(
        &app,
        "GET",
        "/v1/tenants/other/settings",
        c,
        None,
        None,
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
}
