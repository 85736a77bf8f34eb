//! `:execute` with the echo runtime: the happy path and what it records.

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn execute_tags_the_run_and_auto_creates_the_environment() {
    let app = spawn_app().await;

    let reply = app
        .execute(&json!({
            "parameters": {"question": "hello"},
            "sessionId": "conv-7f2a",
            "environmentSlug": "acme_corp"
        }))
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], "succeeded");
    assert_eq!(reply.body["environmentSlug"], "acme_corp");
    assert_eq!(reply.body["sessionId"], "conv-7f2a");
    assert_eq!(reply.body["output"], json!({"question": "hello"}));
    assert_eq!(reply.body["revision"], 1);
    let id = reply.body["executionId"].as_str().unwrap().to_string();
    let auto = "SELECT count(*) FROM environments WHERE slug = 'acme_corp' AND origin = 'auto'";
    assert_eq!(app.count(auto), 1);
    let (slug, session, cost): (String, String, i64) = app
        .db()
        .query_row(
            "SELECT environment_slug, session_id, cost_micros FROM executions WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (slug.as_str(), session.as_str()),
        ("acme_corp", "conv-7f2a")
    );
    assert_eq!(reply.body["costUsd"].as_f64().unwrap(), cost as f64 / 1e6);
}

#[actix_web::test]
async fn execute_without_slug_records_an_untagged_run() {
    let app = spawn_app().await;

    let reply = app.execute(&json!({"parameters": {}})).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body["environmentSlug"].is_null());
    assert_eq!(
        app.count("SELECT count(*) FROM executions WHERE environment_slug IS NULL"),
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM environments"), 0);
}

#[actix_web::test]
async fn the_reply_is_the_whole_execution_record() {
    let app = spawn_app().await;
    let parameters = json!({"question": "how much?"});

    let reply = app
        .execute(&json!({"parameters": parameters, "environmentSlug": "record"}))
        .await;

    let id = reply.execution_id();
    for field in [
        "agent",
        "revision",
        "status",
        "output",
        "sessionId",
        "environmentSlug",
    ] {
        assert!(
            reply.body.get(field).is_some(),
            "{field} is missing: {}",
            reply.text
        );
    }
    let rfc3339 = |v: &serde_json::Value| {
        let t = v.as_str().unwrap_or_default();
        t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z')
    };
    assert!(rfc3339(&reply.body["startedAt"]), "{}", reply.text);
    assert!(rfc3339(&reply.body["finishedAt"]), "{}", reply.text);
    assert!(reply.body["startedAt"].as_str() <= reply.body["finishedAt"].as_str());
    assert!(
        reply.body["durationMs"].as_i64().is_some_and(|d| d >= 0),
        "{}",
        reply.text
    );

    // Echo: about one token per four bytes, priced at the demo's $3/$15 per million.
    let size = parameters.to_string().len() as i64;
    let tokens = reply.body["usage"]["inputTokens"].as_i64().unwrap();
    assert!(
        (size / 4..=size / 4 + 1).contains(&tokens),
        "{size} bytes, {tokens} tokens"
    );
    assert_eq!(reply.body["usage"]["outputTokens"], tokens);
    let (stored_cost, source): (i64, String) = app
        .db()
        .query_row(
            "SELECT cost_micros, source FROM executions WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let expected = ((tokens * 3 + tokens * 15) as f64).round() as i64;
    assert_eq!(stored_cost, expected, "micro-dollars");
    assert_eq!(
        reply.body["costUsd"].as_f64().unwrap(),
        stored_cost as f64 / 1e6
    );
    assert_eq!(source, "api");
}
