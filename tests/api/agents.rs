//! Agents and revisions.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[actix_web::test]
async fn a_new_revision_becomes_the_one_plain_execute_uses() {
    let app = spawn_app().await;

    let created = app
        .post(
            "/v1/tenants/demo/agents/support-bot/revisions",
            &json!({"runtime": {"kind": "echo"}}),
        )
        .await;
    let latest = app.execute(&json!({"parameters": {}})).await;
    let pinned = app
        .post(
            "/v1/tenants/demo/agents/support-bot/revisions/1:execute",
            &json!({"parameters": {}}),
        )
        .await;

    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["revision"], 2);
    assert_eq!(latest.body["revision"], 2);
    assert_eq!(pinned.body["revision"], 1);
}

#[actix_web::test]
async fn agent_ids_follow_the_contract() {
    let app = spawn_app().await;
    let longest = format!("b{}", "-".repeat(63));
    let too_long = format!("b{}", "_".repeat(64));
    // (id, accepted, why)
    let cases: &[(&str, bool, &str)] = &[
        ("a", true, "one letter"),
        ("9bot", true, "a leading digit is allowed for agents"),
        ("team-bot_2", true, "letters, digits, '-' and '_'"),
        (&longest, true, "64 characters"),
        (&too_long, false, "65 characters"),
        ("", false, "empty"),
        ("Bot", false, "upper case"),
        ("-bot", false, "a leading hyphen"),
        ("_bot", false, "a leading underscore"),
        ("bot.v2", false, "a dot"),
        ("bot v2", false, "a space"),
        ("bot/v2", false, "a slash would break paths"),
        ("bot:execute", false, "a colon would break custom methods"),
        ("bøt", false, "non-ASCII"),
        ("bot\n", false, "a newline"),
    ];

    for (id, accepted, why) in cases {
        let before = app.stored();
        let reply = app
            .post(
                "/v1/tenants/demo/agents",
                &json!({"id": id, "runtime": {"kind": "echo"}}),
            )
            .await;
        if *accepted {
            assert_eq!(reply.status, 201, "{why}: {}", reply.text);
            assert_eq!(reply.body["id"], *id);
            assert_eq!(reply.body["revision"], 1);
            let path = format!("/v1/tenants/demo/agents/{id}:execute");
            app.post(&path, &json!({"parameters": {}}))
                .await
                .execution_id();
        } else {
            reply.assert_error(400, "INVALID_ARGUMENT");
            assert_eq!(reply.metadata()["field"], "id", "{why}: {}", reply.text);
            assert_eq!(app.stored(), before, "{why}: nothing stored");
        }
    }
}

#[actix_web::test]
async fn bad_display_names_and_prices_are_refused() {
    let app = spawn_app().await;
    let echo = json!({"kind": "echo"});
    // (body, field, why it must fail)
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"id": "b1", "displayName": "", "runtime": echo}),
            "displayName",
            "empty",
        ),
        (
            json!({"id": "b1", "displayName": "a\nb", "runtime": echo}),
            "displayName",
            "newline",
        ),
        (
            json!({"id": "b1", "displayName": "x".repeat(201), "runtime": echo}),
            "displayName",
            "201 characters",
        ),
        (
            json!({"id": "b1", "runtime": echo, "pricing": {"inputPerMillionUsd": -1}}),
            "pricing.inputPerMillionUsd",
            "a negative price",
        ),
        (
            json!({"id": "b1", "runtime": echo, "pricing": {"outputPerMillionUsd": 0.0000001}}),
            "pricing.outputPerMillionUsd",
            "more than 6 decimals",
        ),
        (
            json!({"id": "b1", "runtime": echo, "pricing": {"inputPerMillionUsd": "3"}}),
            "pricing",
            "a price as a string",
        ),
        (
            json!({"id": 7, "runtime": echo}),
            "id",
            "an id that is not a string",
        ),
        (json!({"id": "b1"}), "runtime", "no runtime"),
    ];
    let before = app.stored();

    for (body, field, why) in &cases {
        let reply = app.post("/v1/tenants/demo/agents", body).await;
        reply.assert_error(400, "INVALID_ARGUMENT");
        let named = reply.metadata()["field"].as_str().unwrap_or_default();
        assert!(
            named.starts_with(field),
            "{why}: field {named:?}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn agents_are_listed_in_pages() {
    let app = spawn_app().await;
    for id in ["a1", "a2", "a3", "a4"] {
        let reply = app
            .post(
                "/v1/tenants/demo/agents",
                &json!({"id": id, "runtime": {"kind": "echo"}}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let path = match &token {
            Some(t) => format!("/v1/tenants/demo/agents?pageSize=2&pageToken={t}"),
            None => "/v1/tenants/demo/agents?pageSize=2".to_string(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let agents = page.body["agents"].as_array().unwrap();
        assert!(agents.len() <= 2);
        seen.extend(agents.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        match page.body.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }

    assert_eq!(seen, ["a1", "a2", "a3", "a4", "support-bot"]);
    let all = app.get("/v1/tenants/demo/agents").await;
    assert_eq!(all.body["agents"].as_array().unwrap().len(), 5);
    assert!(all.body.get("nextPageToken").is_none(), "{}", all.text);
}

#[actix_web::test]
async fn bad_paging_parameters_are_refused() {
    let app = spawn_app().await;
    // (query, reason, field, why it must fail)
    let cases = [
        ("pageSize=0", "INVALID_ARGUMENT", "pageSize", "zero"),
        ("pageSize=1001", "INVALID_ARGUMENT", "pageSize", "over 1000"),
        (
            "pageSize=ten",
            "INVALID_ARGUMENT",
            "pageSize",
            "not a number",
        ),
        (
            "pageToken=zz",
            "INVALID_ARGUMENT",
            "pageToken",
            "not a token we issued",
        ),
        (
            "pageToken=%27%3B--",
            "INVALID_ARGUMENT",
            "pageToken",
            "an injection attempt",
        ),
        ("page_size=10", "UNKNOWN_FIELD", "page_size", "snake case"),
    ];

    for (query, reason, field, why) in cases {
        let reply = app.get(&format!("/v1/tenants/demo/agents?{query}")).await;
        reply.assert_error(400, reason);
        assert_eq!(reply.metadata()["field"], field, "{why}: {}", reply.text);
    }
}
