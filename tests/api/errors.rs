//! The contract's error table: every refusal is the AIP-193 JSON error with the right status and
//! reason, and a refused request leaves every table as it was.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

const EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";
const AGENTS: &str = "/v1/tenants/demo/agents";

/// The sentence every injection attempt below carries.
const INJECTION: &str = "x'; DROP TABLE executions;--";

#[actix_web::test]
async fn unknown_fields_are_refused_with_the_closest_known_field() {
    let app = spawn_app().await;
    // (field sent, closest known field if any, why it must fail)
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "environment_slug",
            Some("environmentSlug"),
            "snake case would silently drop the tag",
        ),
        (
            "environmentslug",
            Some("environmentSlug"),
            "wrong case is still a typo of the tag",
        ),
        (
            "environment-slug",
            Some("environmentSlug"),
            "kebab case is a typo of the tag",
        ),
        ("session_id", Some("sessionId"), "snake case of sessionId"),
        (
            "paramters",
            Some("parameters"),
            "a misspelling of parameters",
        ),
        ("colour", None, "a field nobody asked for"),
    ];
    let before = app.stored();

    for (field, suggestion, why) in cases {
        let mut body = json!({"parameters": {}});
        body[*field] = json!("acme_corp");
        let reply = app.execute(&body).await;

        reply.assert_error(400, "UNKNOWN_FIELD");
        assert_eq!(reply.status_word(), "INVALID_ARGUMENT", "{why}");
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
        assert!(reply.message().contains(field), "{why}: {}", reply.text);
        match suggestion {
            Some(s) => {
                assert!(
                    reply.message().contains(&format!("did you mean {s}?")),
                    "{why}: {}",
                    reply.text
                );
                assert_eq!(reply.metadata()["suggestion"], *s, "{why}: {}", reply.text);
            }
            None => assert!(
                reply.metadata().get("suggestion").is_none(),
                "{why}: {}",
                reply.text
            ),
        }
    }

    assert_eq!(
        app.stored(),
        before,
        "a body with an unknown field stores nothing"
    );
}

#[actix_web::test]
async fn nested_unknown_fields_of_an_agent_are_refused_with_their_path() {
    let app = spawn_app().await;
    // (body, field path, suggestion, why it must fail)
    let cases: &[(Value, &str, &str, &str)] = &[
        (
            json!({"id": "typo-bot", "runtime":
                {"kind": "http", "url": "http://127.0.0.1:9/run", "timeout_ms": 100}}),
            "runtime.timeout_ms",
            "timeoutMs",
            "a snake-case timeout would silently fall back to the default",
        ),
        (
            json!({"id": "typo-bot", "runtime": {"kind": "echo"},
                   "pricing": {"inputPerMillion": 3, "outputPerMillionUsd": 15}}),
            "pricing.inputPerMillion",
            "inputPerMillionUsd",
            "a misspelt price would silently become 0",
        ),
        (
            json!({"id": "typo-bot", "display_name": "Typo", "runtime": {"kind": "echo"}}),
            "display_name",
            "displayName",
            "snake case of displayName",
        ),
    ];
    let before = app.stored();

    for (body, field, suggestion, why) in cases {
        let reply = app.post(AGENTS, body).await;

        reply.assert_error(400, "UNKNOWN_FIELD");
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
        assert_eq!(
            reply.metadata()["suggestion"],
            *suggestion,
            "{why}: {}",
            reply.text
        );
        assert!(
            reply
                .message()
                .contains(&format!("did you mean {suggestion}?")),
            "{why}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before, "no agent or revision was created");
}

#[actix_web::test]
async fn malformed_json_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    // (raw body, why it must fail)
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"parameters": {"q": "hi"}, "environmentSlug": "acme_co"#,
            "truncated",
        ),
        (b"", "empty body"),
        (b"   \n ", "only whitespace"),
        (br#"{"parameters": {}} {"parameters": {}}"#, "two documents"),
        (
            br#"{"parameters": {}, "environmentSlug": "acme_corp"}garbage"#,
            "trailing garbage",
        ),
        (br#"{"parameters": {},}"#, "trailing comma"),
        (br#"{'parameters': {}}"#, "single quotes are not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (
            b"parameters=1&environmentSlug=acme_corp",
            "a form, not JSON",
        ),
    ];
    let before = app.stored();

    for (raw, why) in cases {
        let reply = app
            .send("POST", EXECUTE, Some(&app.admin_key), Some(raw))
            .await;
        reply.assert_error(400, "MALFORMED_JSON");
        assert_eq!(reply.status_word(), "INVALID_ARGUMENT", "{why}");
    }

    let no_body = app.send("POST", EXECUTE, Some(&app.admin_key), None).await;
    no_body.assert_error(400, "MALFORMED_JSON");
    assert_eq!(app.stored(), before, "malformed bodies store nothing");
    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE slug = 'acme_corp'"),
        0
    );
}

#[actix_web::test]
async fn wrong_types_are_refused_as_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let long_session = "s".repeat(257);
    // (body, field named in metadata, why it must fail)
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"parameters": "question=hi"}),
            "parameters",
            "parameters as a string",
        ),
        (
            json!({"parameters": ["hi"]}),
            "parameters",
            "parameters as an array",
        ),
        (
            json!({"parameters": 7}),
            "parameters",
            "parameters as a number",
        ),
        (
            json!({"parameters": null}),
            "parameters",
            "parameters as null",
        ),
        (
            json!({"sessionId": "conv-1"}),
            "parameters",
            "parameters is required",
        ),
        (
            json!({"parameters": {}, "sessionId": 42}),
            "sessionId",
            "sessionId as a number",
        ),
        (
            json!({"parameters": {}, "sessionId": {"id": 1}}),
            "sessionId",
            "sessionId as object",
        ),
        (
            json!({"parameters": {}, "sessionId": "conv\n7f2a"}),
            "sessionId",
            "a newline",
        ),
        (
            json!({"parameters": {}, "sessionId": "conv\u{7}7f2a"}),
            "sessionId",
            "a bell char",
        ),
        (
            json!({"parameters": {}, "sessionId": "conv\u{0}"}),
            "sessionId",
            "a NUL char",
        ),
        (
            json!({"parameters": {}, "sessionId": "conv\t7f2a"}),
            "sessionId",
            "a tab",
        ),
        (
            json!({"parameters": {}, "sessionId": "conv\u{1b}[31m"}),
            "sessionId",
            "an escape",
        ),
        (
            json!({"parameters": {}, "sessionId": long_session}),
            "sessionId",
            "257 characters",
        ),
    ];
    let before = app.stored();

    for (body, field, why) in &cases {
        let mut body = body.clone();
        // A valid, new slug: a refused body must not register it.
        body["environmentSlug"] = json!("wrong_types");
        let reply = app.execute(&body).await;

        reply.assert_error(400, "INVALID_ARGUMENT");
        assert_eq!(reply.status_word(), "INVALID_ARGUMENT", "{why}");
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    let not_an_object = app
        .send("POST", EXECUTE, Some(&app.admin_key), Some(b"[]"))
        .await;
    not_an_object.assert_error(400, "INVALID_ARGUMENT");
    assert_eq!(app.stored(), before, "wrong types store nothing");
}

#[actix_web::test]
async fn session_ids_up_to_256_characters_and_unicode_are_stored_verbatim() {
    let app = spawn_app().await;
    let longest = "é".repeat(256);
    let sessions = [longest.as_str(), "conv-7f2a", "會話-🙂-ü", INJECTION];

    for session in sessions {
        let reply = app
            .execute(&json!({"parameters": {}, "sessionId": session}))
            .await;
        let id = reply.execution_id();
        assert_eq!(reply.body["sessionId"], session);
        let stored: String = app
            .db()
            .query_row(
                "SELECT session_id FROM executions WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, session);
    }
    assert_eq!(app.count("SELECT count(*) FROM executions"), 4);
}

#[actix_web::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let app = spawn_app().await;
    let limit = 1 << 20;
    let before = app.stored();

    let too_large = padded_body(limit + 1, "too_large");
    let reply = app
        .send("POST", EXECUTE, Some(&app.admin_key), Some(&too_large))
        .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");

    let far_too_large = padded_body(8 * limit, "far_too_large");
    let reply = app
        .send("POST", EXECUTE, Some(&app.admin_key), Some(&far_too_large))
        .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");

    // Without a Content-Length the limit holds while reading.
    let raw = padded_body(limit + 4096, "chunked");
    let chunks = raw.chunks(64 * 1024).map(|c| c.to_vec());
    let chunked = app
        .client
        .post(format!("{}{EXECUTE}", app.address))
        .insert_header(("X-API-KEY", app.admin_key.as_str()))
        .insert_header(("Content-Type", "application/json"))
        .send_stream(Chunks(chunks.rev().collect()))
        .await;
    match chunked {
        Ok(mut response) => {
            assert_eq!(response.status(), 413);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["details"][0]["reason"], "PAYLOAD_TOO_LARGE");
        }
        // The server may close the connection before the client has sent everything; what
        // matters then is that nothing was stored, checked below.
        Err(e) => eprintln!("the chunked upload was cut off: {e}"),
    }

    let agent = padded_agent(limit + 1);
    let reply = app
        .send("POST", AGENTS, Some(&app.admin_key), Some(&agent))
        .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");

    assert_eq!(app.stored(), before, "oversized bodies store nothing");
}

#[actix_web::test]
async fn a_body_of_exactly_one_mebibyte_is_accepted() {
    let app = spawn_app().await;

    let body = padded_body(1 << 20, "at_the_limit");
    let reply = app
        .send("POST", EXECUTE, Some(&app.admin_key), Some(&body))
        .await;

    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.text[..reply.text.len().min(300)]
    );
    assert_eq!(app.count("SELECT count(*) FROM executions"), 1);
}

/// A body sent in chunks, without a Content-Length; the chunks are popped from the end.
struct Chunks(Vec<Vec<u8>>);

impl futures_core::Stream for Chunks {
    type Item = Result<actix_web::web::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.pop().map(|c| Ok(c.into())))
    }
}

/// An execute body of exactly `size` bytes, tagged with `slug`.
fn padded_body(size: usize, slug: &str) -> Vec<u8> {
    let empty = json!({"parameters": {"pad": ""}, "environmentSlug": slug}).to_string();
    let pad = "x".repeat(size - empty.len());
    let body = json!({"parameters": {"pad": pad}, "environmentSlug": slug}).to_string();
    assert_eq!(body.len(), size);
    body.into_bytes()
}

fn padded_agent(size: usize) -> Vec<u8> {
    let empty = json!({"id": "big-bot", "displayName": "", "runtime": {"kind": "echo"}});
    let pad = "x".repeat(size - empty.to_string().len());
    let body = json!({"id": "big-bot", "displayName": pad, "runtime": {"kind": "echo"}});
    body.to_string().into_bytes()
}

#[actix_web::test]
async fn requests_without_a_valid_key_are_unauthenticated() {
    let app = spawn_app().await;
    let (revoked_id, revoked) = app.create_key("demo", "admin");
    app.cli(&["key", "revoke", &revoked_id]);
    let unknown = format!("fx_{}", "0".repeat(64));
    let admin_key_upper = app.admin_key.to_uppercase();
    // (key header, why it must fail)
    let cases: &[(Option<&str>, &str)] = &[
        (None, "no key at all"),
        (Some(""), "an empty key"),
        (Some(&unknown), "a key that was never issued"),
        (Some(&revoked), "a revoked key"),
        (Some(&admin_key_upper), "keys are compared exactly"),
        (Some("fx_; DROP TABLE api_keys;--"), "an injection attempt"),
    ];
    let body = json!({"parameters": {}, "environmentSlug": "unauthenticated"});
    let before = app.stored();

    for (key, why) in cases {
        for (method, path, body) in [
            ("POST", EXECUTE, Some(&body)),
            (
                "POST",
                "/v1/tenants/demo/agents/support-bot:stream",
                Some(&body),
            ),
            ("GET", AGENTS, None),
            ("GET", "/v1/tenants/demo/agents/support-bot", None),
        ] {
            let raw = body.map(|b| b.to_string().into_bytes());
            let reply = app.send(method, path, *key, raw.as_deref()).await;
            reply.assert_error(401, "UNAUTHENTICATED");
            assert_eq!(
                reply.status_word(),
                "UNAUTHENTICATED",
                "{why} on {method} {path}"
            );
            assert!(!reply.text.contains("support-bot"), "{why}: {}", reply.text);
        }
    }

    assert_eq!(
        app.stored(),
        before,
        "unauthenticated requests store nothing"
    );
}

#[actix_web::test]
async fn a_caller_who_may_not_is_refused_before_anything_is_said_about_the_body() {
    let app = spawn_app().await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let unknown = format!("fx_{}", "0".repeat(64));
    // (key, expected code and reason, who is calling)
    let callers: &[(&str, u16, &str, &str)] = &[
        (
            &unknown,
            401,
            "UNAUTHENTICATED",
            "a key that was never issued",
        ),
        (
            &execute_key,
            403,
            "PERMISSION_DENIED",
            "an execute-role key",
        ),
        (
            &other_key,
            403,
            "PERMISSION_DENIED",
            "another tenant's admin key",
        ),
    ];
    let oversized = vec![b' '; 2 << 20];
    // (body, what is wrong with it)
    let bodies: &[(&[u8], &str)] = &[
        (b"{not json", "malformed JSON"),
        (br#"{"slugg": "acme"}"#, "an unknown field"),
        (&oversized, "a body over 1 MiB"),
    ];
    let before = app.stored();

    for (method, path) in [
        ("POST", AGENTS),
        ("POST", "/v1/tenants/demo/agents/support-bot/revisions"),
        ("POST", "/v1/tenants/demo/environments"),
        ("PATCH", "/v1/tenants/demo/environments/acme"),
        ("PATCH", "/v1/tenants/demo/settings"),
        ("PUT", "/v1/tenants/demo/settings"),
        ("PUT", "/v1/tenants/demo/environments/acme/budget"),
    ] {
        for (key, code, reason, who) in callers {
            for (body, what) in bodies {
                let reply = app.send(method, path, Some(key), Some(body)).await;
                assert_eq!(
                    (reply.status.as_u16(), reply.reason()),
                    (*code, *reason),
                    "{who} sending {what} to {method} {path}: {}",
                    reply.text
                );
            }
        }
    }

    assert_eq!(app.stored(), before, "refused requests store nothing");
}

#[actix_web::test]
async fn another_tenant_and_a_missing_tenant_get_the_same_403() {
    let app = spawn_app().await;
    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let body = json!({"parameters": {}, "environmentSlug": "trespass"});
    let before = app.stored();

    for (method, path) in [
        ("POST", "/v1/tenants/{t}/agents/support-bot:execute"),
        ("POST", "/v1/tenants/{t}/agents/support-bot:stream"),
        (
            "POST",
            "/v1/tenants/{t}/agents/support-bot/revisions/1:execute",
        ),
        ("GET", "/v1/tenants/{t}/agents"),
        ("GET", "/v1/tenants/{t}/agents/support-bot"),
        ("POST", "/v1/tenants/{t}/agents/support-bot/revisions"),
    ] {
        let send = |tenant: &str| {
            let path = path.replace("{t}", tenant);
            let raw = (method == "POST").then(|| {
                if path.ends_with("/revisions") {
                    json!({"runtime": {"kind": "echo"}})
                        .to_string()
                        .into_bytes()
                } else {
                    body.to_string().into_bytes()
                }
            });
            let key = other_key.clone();
            let app = &app;
            async move { app.send(method, &path, Some(&key), raw.as_deref()).await }
        };
        let existing = send("demo").await;
        let missing = send("nosuch").await;

        existing.assert_error(403, "PERMISSION_DENIED");
        missing.assert_error(403, "PERMISSION_DENIED");
        assert_eq!(existing.status_word(), "PERMISSION_DENIED");
        assert_eq!(
            existing.text.replace("demo", "{tenant}"),
            missing.text.replace("nosuch", "{tenant}"),
            "{method} {path}: an existing and a missing tenant must be indistinguishable"
        );
    }

    assert_eq!(app.stored(), before, "refused requests store nothing");
}

#[actix_web::test]
async fn an_execute_key_may_not_use_admin_endpoints() {
    let app = spawn_app().await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let new_agent = json!({"id": "sneaky-bot", "runtime": {"kind": "echo"}});
    let revision = json!({"runtime": {"kind": "echo"}});
    let before = app.stored();

    let cases: &[(&str, &str, Option<&Value>)] = &[
        ("GET", AGENTS, None),
        ("POST", AGENTS, Some(&new_agent)),
        ("GET", "/v1/tenants/demo/agents/support-bot", None),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions",
            Some(&revision),
        ),
    ];
    for (method, path, body) in cases {
        let raw = body.map(|b| b.to_string().into_bytes());
        let reply = app
            .send(method, path, Some(&execute_key), raw.as_deref())
            .await;
        reply.assert_error(403, "PERMISSION_DENIED");
        assert_eq!(
            reply.metadata()["role"],
            "execute",
            "{method} {path}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before, "no agent or revision was created");
}

#[actix_web::test]
async fn missing_agents_revisions_and_paths_are_json_404s() {
    let app = spawn_app().await;
    let body = json!({"parameters": {}, "environmentSlug": "never_registered"});
    // (method, path, metadata that must be present, why it must fail)
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "POST",
            "/v1/tenants/demo/agents/no-such-bot:execute",
            json!({"agent": "no-such-bot"}),
            "an unknown agent",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/no-such-bot:stream",
            json!({"agent": "no-such-bot"}),
            "an unknown agent, streamed",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions/9:execute",
            json!({"agent": "support-bot", "revision": 9}),
            "a revision that does not exist yet",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions/9:stream",
            json!({"agent": "support-bot", "revision": 9}),
            "a missing revision, streamed",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions/0:execute",
            json!({}),
            "revisions are numbered from 1",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions/-1:execute",
            json!({}),
            "a negative revision",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot/revisions/latest:execute",
            json!({}),
            "a revision that is not a number",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/no-such-bot/revisions/1:execute",
            json!({"agent": "no-such-bot"}),
            "a pinned revision of an unknown agent",
        ),
        (
            "GET",
            "/v1/tenants/demo/agents/no-such-bot",
            json!({"agent": "no-such-bot"}),
            "reading an unknown agent",
        ),
        (
            "POST",
            "/v1/tenants/demo/agents/no-such-bot/revisions",
            json!({}),
            "adding a revision to an unknown agent",
        ),
        ("GET", "/v1/nope", json!({}), "an unknown path"),
        (
            "POST",
            "/v1/tenants/demo/agents/support-bot:explode",
            json!({}),
            "an unknown verb",
        ),
    ];
    let before = app.stored();

    for (method, path, metadata, why) in cases {
        let raw = if path.ends_with("/revisions") {
            json!({"runtime": {"kind": "echo"}}).to_string()
        } else {
            body.to_string()
        };
        let raw = (*method == "POST").then_some(raw.as_bytes());
        let reply = app.send(method, path, Some(&app.admin_key), raw).await;

        reply.assert_error(404, "NOT_FOUND");
        assert_eq!(reply.status_word(), "NOT_FOUND", "{why}");
        for (k, v) in metadata.as_object().unwrap() {
            assert_eq!(&reply.metadata()[k], v, "{why}: {}", reply.text);
        }
    }

    assert_eq!(
        app.stored(),
        before,
        "a 404 registers no environment and records nothing"
    );
}

#[actix_web::test]
async fn creating_an_agent_that_exists_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let before = app.stored();

    let reply = app
        .post(
            AGENTS,
            &json!({"id": "support-bot", "displayName": "Impostor",
                    "runtime": {"kind": "http", "url": "http://127.0.0.1:9/run"}}),
        )
        .await;

    reply.assert_error(409, "ALREADY_EXISTS");
    assert_eq!(reply.status_word(), "ALREADY_EXISTS");
    assert_eq!(reply.metadata()["agent"], "support-bot");
    assert_eq!(app.stored(), before);
    let agent = app.get("/v1/tenants/demo/agents/support-bot").await;
    assert_eq!(
        agent.body["runtime"],
        json!({"kind": "echo"}),
        "{}",
        agent.text
    );
    assert_ne!(agent.body["displayName"], "Impostor");
    assert_eq!(agent.body["revision"], 1);
}

#[actix_web::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let before = app.stored();
    let cases: &[(&str, &str)] = &[
        ("GET", EXECUTE),
        ("PUT", EXECUTE),
        ("GET", "/v1/tenants/demo/agents/support-bot:stream"),
        ("DELETE", AGENTS),
        ("PUT", "/v1/tenants/demo/agents/support-bot"),
        ("DELETE", "/v1/tenants/demo/agents/support-bot"),
        ("GET", "/v1/tenants/demo/agents/support-bot/revisions"),
        ("POST", "/healthz"),
    ];

    for (method, path) in cases {
        let reply = app.send(method, path, Some(&app.admin_key), None).await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text);
        assert!(
            reply.content_type.starts_with("application/json"),
            "{method} {path}"
        );
        assert_eq!(
            reply.body["error"]["code"], 405,
            "{method} {path}: {}",
            reply.text
        );
        assert!(
            !reply.reason().is_empty(),
            "{method} {path}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before);
    assert_eq!(
        app.count("SELECT count(*) FROM agents WHERE id = 'support-bot'"),
        1
    );
}

#[actix_web::test]
async fn injection_attempts_are_refused_or_stored_verbatim_and_tables_survive() {
    let app = spawn_app().await;
    let encoded = "x%27%3B%20DROP%20TABLE%20executions%3B--";

    let slug = app.execute_in(INJECTION).await;
    slug.assert_error(400, "INVALID_ENVIRONMENT_SLUG");

    let agent_path = format!("/v1/tenants/demo/agents/{encoded}:execute");
    let in_path = app.post(&agent_path, &json!({"parameters": {}})).await;
    in_path.assert_error(404, "NOT_FOUND");

    let tenant_path = format!("/v1/tenants/{encoded}/agents/support-bot:execute");
    let in_tenant = app.post(&tenant_path, &json!({"parameters": {}})).await;
    in_tenant.assert_error(403, "PERMISSION_DENIED");

    let agent_id = app
        .post(
            AGENTS,
            &json!({"id": INJECTION, "runtime": {"kind": "echo"}}),
        )
        .await;
    agent_id.assert_error(400, "INVALID_ARGUMENT");
    assert_eq!(agent_id.metadata()["field"], "id");

    let revision = "/v1/tenants/demo/agents/support-bot/revisions/1%20OR%201=1:execute";
    let in_revision = app.post(revision, &json!({"parameters": {}})).await;
    in_revision.assert_error(404, "NOT_FOUND");

    // Values that may hold any text go in and come out unchanged.
    let verbatim = app
        .execute(&json!({
            "parameters": {INJECTION: INJECTION, "q": "1' OR '1'='1"},
            "sessionId": INJECTION,
            "environmentSlug": "robert_tables"
        }))
        .await;
    let id = verbatim.execution_id();
    assert_eq!(verbatim.body["output"][INJECTION], INJECTION);
    let (session, output): (String, String) = app
        .db()
        .query_row(
            "SELECT session_id, output FROM executions WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(session, INJECTION);
    let output: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(output, json!({INJECTION: INJECTION, "q": "1' OR '1'='1"}));

    let tables: Vec<String> = app
        .db()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in [
        "agent_revisions",
        "agents",
        "api_keys",
        "environments",
        "executions",
        "tenants",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "table {table} is gone: {tables:?}"
        );
    }
    let stored = app.stored();
    assert_eq!(
        (stored.executions, stored.environments, stored.agents),
        (1, 1, 1)
    );
    assert_eq!(stored.tenants, 1);
}

#[actix_web::test]
async fn a_duplicated_field_is_refused_rather_than_one_copy_winning() {
    let app = spawn_app().await;
    let before = app.stored();
    // (raw body, the duplicated field, why it must fail)
    let cases: &[(&[u8], &str, &str)] = &[
        (
            br#"{"parameters": {}, "environmentSlug": "good_one", "environmentSlug": "Bad-One"}"#,
            "environmentSlug",
            "a valid slug followed by an invalid one",
        ),
        (
            br#"{"parameters": {}, "environmentSlug": "first", "environmentSlug": "second"}"#,
            "environmentSlug",
            "which of two tags would the run carry?",
        ),
        (
            br#"{"parameters": {}, "parameters": {"a": 1}}"#,
            "parameters",
            "two parameter objects",
        ),
    ];

    for (raw, field, why) in cases {
        let reply = app
            .send("POST", EXECUTE, Some(&app.admin_key), Some(raw))
            .await;
        reply.assert_error(400, "INVALID_ARGUMENT");
        assert!(reply.message().contains(field), "{why}: {}", reply.text);
        // The contract: metadata.field names the field, as the message does.
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn deeply_nested_json_is_refused_and_the_server_lives_on() {
    let app = spawn_app().await;
    let depth = 100_000;
    let raw = format!(
        r#"{{"parameters": {{"a": {}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let before = app.stored();

    let reply = app
        .send("POST", EXECUTE, Some(&app.admin_key), Some(raw.as_bytes()))
        .await;

    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.text[..reply.text.len().min(300)]
    );
    assert_eq!(app.stored(), before);
    let health = app.send("GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    app.execute_in("still_alive").await.execution_id();
}
