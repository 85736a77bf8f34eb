//! Tenant isolation and roles: a key works only in its own tenant, and an `execute` key only
//! executes.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, sse_events};

const DEMO_EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";
const DEMO_STREAM: &str = "/v1/tenants/demo/agents/support-bot:stream";

/// The app with a second tenant `other`; returns its admin key.
async fn with_other_tenant() -> (TestApp, String) {
    let app = spawn_app().await;
    let output = app.cli(&["tenant", "create", "other"]);
    let key = crate::helpers::last_line(&output);
    assert!(key.starts_with("fx_"), "the last line is the key: {output}");
    (app, key)
}

#[actix_web::test]
async fn an_execute_key_executes_and_streams() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("demo", "execute");
    let body = json!({"parameters": {"q": "hi"}, "environmentSlug": "via_execute_key"});

    let executed = app.post_as(Some(&key), DEMO_EXECUTE, &body).await;
    let pinned = app
        .post_as(
            Some(&key),
            "/v1/tenants/demo/agents/support-bot/revisions/1:execute",
            &body,
        )
        .await;
    let streamed = app.post_as(Some(&key), DEMO_STREAM, &body).await;

    executed.execution_id();
    pinned.execution_id();
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    let events = sse_events(&streamed.text);
    assert_eq!(events.last().unwrap().0, "done", "{}", streamed.text);
    assert_eq!(events.last().unwrap().1["status"], "succeeded");
    assert_eq!(
        app.count("SELECT count(*) FROM executions WHERE environment_slug = 'via_execute_key'"),
        3
    );
}

#[actix_web::test]
async fn an_execute_key_gets_403_on_agent_administration() {
    let app = spawn_app().await;
    let (_, key) = app.create_key("demo", "execute");
    let before = app.stored();

    let list = app
        .send("GET", "/v1/tenants/demo/agents", Some(&key), None)
        .await;
    let get = app
        .send(
            "GET",
            "/v1/tenants/demo/agents/support-bot",
            Some(&key),
            None,
        )
        .await;
    let create = app
        .post_as(
            Some(&key),
            "/v1/tenants/demo/agents",
            &json!({"id": "rogue-bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    let revise = app
        .post_as(
            Some(&key),
            "/v1/tenants/demo/agents/support-bot/revisions",
            &json!({"runtime": {"kind": "http", "url": "http://127.0.0.1:9/steal"}}),
        )
        .await;

    for reply in [&list, &get, &create, &revise] {
        reply.assert_error(403, "PERMISSION_DENIED");
        assert!(
            !reply.text.contains("Support bot"),
            "no agent data leaks: {}",
            reply.text
        );
    }
    assert_eq!(app.stored(), before, "nothing created");
    let agent = app.get("/v1/tenants/demo/agents/support-bot").await;
    assert_eq!(agent.body["revision"], 1);
}

#[actix_web::test]
async fn a_tenant_cannot_read_or_run_another_tenants_agents() {
    let (app, other_key) = with_other_tenant().await;
    let before = app.stored();
    let body = json!({"parameters": {}, "environmentSlug": "spying"});

    let existing = [
        app.send("GET", "/v1/tenants/demo/agents", Some(&other_key), None)
            .await,
        app.send(
            "GET",
            "/v1/tenants/demo/agents/support-bot",
            Some(&other_key),
            None,
        )
        .await,
        app.post_as(Some(&other_key), DEMO_EXECUTE, &body).await,
        app.post_as(Some(&other_key), DEMO_STREAM, &body).await,
    ];
    let missing = [
        app.send("GET", "/v1/tenants/demo/agents", Some(&other_key), None)
            .await,
        app.send(
            "GET",
            "/v1/tenants/demo/agents/no-such-bot",
            Some(&other_key),
            None,
        )
        .await,
        app.post_as(
            Some(&other_key),
            "/v1/tenants/demo/agents/no-such-bot:execute",
            &body,
        )
        .await,
        app.post_as(
            Some(&other_key),
            "/v1/tenants/demo/agents/no-such-bot:stream",
            &body,
        )
        .await,
    ];

    for (seen, unseen) in existing.iter().zip(&missing) {
        seen.assert_error(403, "PERMISSION_DENIED");
        assert!(!seen.text.contains("Support bot"), "{}", seen.text);
        assert!(!seen.text.contains("echo"), "{}", seen.text);
        // Whether the agent exists must not be visible from the reply.
        assert_eq!(
            seen.text.replace("support-bot", "{agent}"),
            unseen.text.replace("no-such-bot", "{agent}"),
            "an existing and a missing agent of another tenant look the same"
        );
    }
    assert_eq!(app.stored(), before, "nothing stored for the intruder");
}

#[actix_web::test]
async fn each_tenant_sees_and_runs_only_its_own_agents() {
    let (app, other_key) = with_other_tenant().await;

    let own_list = app
        .send("GET", "/v1/tenants/other/agents", Some(&other_key), None)
        .await;
    assert_eq!(own_list.status, 200, "{}", own_list.text);
    assert_eq!(
        own_list.body["agents"],
        json!([]),
        "the demo agent is not listed"
    );

    let own_get = app
        .send(
            "GET",
            "/v1/tenants/other/agents/support-bot",
            Some(&other_key),
            None,
        )
        .await;
    own_get.assert_error(404, "NOT_FOUND");

    // The same agent id in another tenant is another agent.
    let created = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents",
            &json!({"id": "support-bot", "displayName": "Other's bot",
                    "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = json!({"parameters": {"who": "other"}, "environmentSlug": "shared_name"});
    let theirs = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents/support-bot:execute",
            &body,
        )
        .await;
    let ours = app.execute(&body).await;

    let (theirs, ours) = (theirs.execution_id(), ours.execution_id());
    let tenant_of = |id: &str| -> String {
        app.db()
            .query_row(
                "SELECT tenant_id FROM executions WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(tenant_of(&theirs), "other");
    assert_eq!(tenant_of(&ours), "demo");
    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE slug = 'shared_name'"),
        2,
        "each tenant registers its own environment"
    );
    let demo_agent = app.get("/v1/tenants/demo/agents/support-bot").await;
    assert_ne!(demo_agent.body["displayName"], "Other's bot");
}

#[actix_web::test]
async fn an_execute_key_of_another_tenant_is_also_refused() {
    let (app, _) = with_other_tenant().await;
    let (_, other_execute) = app.create_key("other", "execute");
    let before = app.stored();

    let reply = app
        .post_as(
            Some(&other_execute),
            DEMO_EXECUTE,
            &json!({"parameters": {}}),
        )
        .await;

    reply.assert_error(403, "PERMISSION_DENIED");
    assert_eq!(app.stored(), before);
}
