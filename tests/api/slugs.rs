//! Environment slug rules: `^[a-z][a-z0-9_]+$`, at most 64 characters, checked before anything
//! else happens, with a suggestion where one can be derived.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// What a refusal must say about a better slug.
enum Hint {
    /// The message says "use '...'" and `metadata.suggestion` holds it.
    Suggests(&'static str),
    /// No valid slug can be derived: there is no `metadata.suggestion`.
    Nothing,
    /// The contract leaves it open (non-ASCII input).
    Either,
}

#[actix_web::test]
async fn slugs_that_break_the_rules_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let long = format!("a{}", "b".repeat(64));
    // (slug, hint, why it must fail)
    let cases: Vec<(Value, Hint, &str)> = vec![
        (json!("a"), Hint::Nothing, "1 character; at least 2"),
        (json!(long), Hint::Either, "65 characters; at most 64"),
        (json!("acme-corp"), Hint::Suggests("acme_corp"), "a hyphen"),
        (
            json!("Acme-Corp"),
            Hint::Suggests("acme_corp"),
            "upper case and a hyphen",
        ),
        (json!("ACME"), Hint::Suggests("acme"), "upper case"),
        (json!("acme.corp"), Hint::Suggests("acme_corp"), "a dot"),
        (json!("acme corp"), Hint::Suggests("acme_corp"), "a space"),
        (
            json!(" acme "),
            Hint::Suggests("acme"),
            "surrounding spaces",
        ),
        (json!("9lives"), Hint::Nothing, "a leading digit"),
        (
            json!("1234567890"),
            Hint::Nothing,
            "only digits, a leading digit",
        ),
        (
            json!("_acme"),
            Hint::Suggests("acme"),
            "a leading underscore",
        ),
        (json!("__"), Hint::Nothing, "only underscores"),
        (json!("café"), Hint::Either, "a non-ASCII letter"),
        (json!("ａｃｍｅ"), Hint::Either, "fullwidth letters"),
        (
            json!("acme\u{200b}corp"),
            Hint::Either,
            "a zero-width space",
        ),
        (json!("аcme"), Hint::Either, "a Cyrillic a"),
        (json!("ac\u{0}me"), Hint::Either, "a NUL character"),
        (json!("ac\nme"), Hint::Either, "a newline"),
        (json!("acme\t"), Hint::Either, "a tab"),
        (json!(""), Hint::Nothing, "empty"),
        (json!("   "), Hint::Nothing, "only whitespace"),
        (
            json!("x'; DROP TABLE executions;--"),
            Hint::Either,
            "an injection attempt",
        ),
        (json!(42), Hint::Nothing, "a number"),
        (json!({"slug": "acme_corp"}), Hint::Nothing, "an object"),
        (json!(["acme_corp"]), Hint::Nothing, "an array"),
        (json!(true), Hint::Nothing, "a boolean"),
    ];
    let before = app.stored();

    for (slug, hint, why) in &cases {
        let reply = app
            .execute(&json!({"parameters": {"q": "hi"}, "environmentSlug": slug}))
            .await;

        reply.assert_error(400, "INVALID_ENVIRONMENT_SLUG");
        assert_eq!(reply.status_word(), "INVALID_ARGUMENT", "{why}");
        assert_eq!(
            reply.metadata()["field"],
            "environmentSlug",
            "{why}: {}",
            reply.text
        );
        assert!(
            reply.message().contains("environmentSlug"),
            "{why}: {}",
            reply.text
        );
        let suggestion = reply.metadata().get("suggestion");
        match hint {
            Hint::Suggests(s) => {
                assert_eq!(suggestion, Some(&json!(s)), "{why}: {}", reply.text);
                assert!(
                    reply.message().contains(&format!("use '{s}'")),
                    "{why}: {}",
                    reply.text
                );
            }
            Hint::Nothing => assert_eq!(suggestion, None, "{why}: {}", reply.text),
            Hint::Either => {
                if let Some(s) = suggestion {
                    let s = s.as_str().unwrap();
                    assert!(valid(s), "{why}: the suggestion '{s}' is itself invalid");
                    assert!(reply.message().contains(s), "{why}: {}", reply.text);
                }
            }
        }
    }

    assert_eq!(
        app.stored(),
        before,
        "no environment and no execution for a refused slug"
    );
}

/// The contract's rule, restated independently of the server's code.
fn valid(slug: &str) -> bool {
    let mut chars = slug.chars();
    (2..=64).contains(&slug.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[actix_web::test]
async fn upper_case_with_a_hyphen_gets_the_contract_message() {
    let app = spawn_app().await;

    let reply = app.execute_in("Acme-Corp").await;

    reply.assert_error(400, "INVALID_ENVIRONMENT_SLUG");
    assert!(
        reply.message().contains("use 'acme_corp'"),
        "{}",
        reply.text
    );
    assert_eq!(reply.metadata()["suggestion"], "acme_corp");

    let hyphen = app.execute_in("acme-corp").await;
    assert!(
        hyphen.message().contains("'-'"),
        "say what is wrong: {}",
        hyphen.text
    );
    assert!(
        hyphen.message().contains("use 'acme_corp'"),
        "{}",
        hyphen.text
    );
}

#[actix_web::test]
async fn slugs_within_the_rules_are_accepted_and_registered_once() {
    let app = spawn_app().await;
    let longest = format!("a{}", "9".repeat(63));
    let cases = ["ab", "a_", "a9", "acme_corp", "x_1_2_3", longest.as_str()];

    for slug in cases {
        let reply = app.execute_in(slug).await;
        assert_eq!(reply.status, 200, "{slug}: {}", reply.text);
        assert_eq!(reply.body["environmentSlug"], slug);
        let again = app.execute_in(slug).await;
        assert_eq!(again.status, 200, "{slug}: {}", again.text);
    }

    for slug in cases {
        let sql = format!("SELECT count(*) FROM environments WHERE slug = '{slug}'");
        assert_eq!(app.count(&sql), 1, "{slug} is registered once");
        let sql = format!("SELECT count(*) FROM executions WHERE environment_slug = '{slug}'");
        assert_eq!(app.count(&sql), 2, "{slug} has both runs");
    }
}

#[actix_web::test]
async fn a_null_slug_is_an_untagged_run() {
    let app = spawn_app().await;

    let reply = app
        .execute(&json!({"parameters": {}, "environmentSlug": null}))
        .await;

    let id = reply.execution_id();
    assert!(reply.body["environmentSlug"].is_null());
    let slug: Option<String> = app
        .db()
        .query_row(
            "SELECT environment_slug FROM executions WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(slug, None);
    assert_eq!(app.count("SELECT count(*) FROM environments"), 0);
}

#[actix_web::test]
async fn the_slug_is_checked_after_the_key_and_before_the_agent() {
    let app = spawn_app().await;
    let body = json!({"parameters": {}, "environmentSlug": "Acme-Corp"});
    let before = app.stored();

    let no_key = app
        .post_as(None, "/v1/tenants/demo/agents/support-bot:execute", &body)
        .await;
    no_key.assert_error(401, "UNAUTHENTICATED");

    let unknown_agent = app
        .post("/v1/tenants/demo/agents/no-such-bot:execute", &body)
        .await;
    unknown_agent.assert_error(400, "INVALID_ENVIRONMENT_SLUG");

    let unknown_revision = app
        .post(
            "/v1/tenants/demo/agents/support-bot/revisions/7:execute",
            &body,
        )
        .await;
    unknown_revision.assert_error(400, "INVALID_ENVIRONMENT_SLUG");

    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn a_slug_that_differs_only_by_case_is_not_the_same_environment() {
    let app = spawn_app().await;
    app.execute_in("acme_corp").await.execution_id();

    let reply = app.execute_in("ACME_CORP").await;

    reply.assert_error(400, "INVALID_ENVIRONMENT_SLUG");
    assert_eq!(reply.metadata()["suggestion"], "acme_corp");
    assert_eq!(app.count("SELECT count(*) FROM executions"), 1);
    assert_eq!(app.count("SELECT count(*) FROM environments"), 1);
}
