//! The environment cap: a new slug is admitted only while the tenant is under its cap, checked
//! in the write transaction that inserts, so that concurrent first sightings never exceed it.

use serde_json::json;

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

const EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";

#[track_caller]
fn assert_cap_reached(reply: &Reply, cap: i64, count: i64) {
    reply.assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(reply.status_word(), "FAILED_PRECONDITION", "{}", reply.text);
    assert_eq!(reply.metadata()["cap"], cap, "{}", reply.text);
    assert_eq!(reply.metadata()["count"], count, "{}", reply.text);
}

fn executions_in(app: &TestApp, slug: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM executions WHERE environment_slug = '{slug}'");
    app.count(&sql)
}

#[actix_web::test]
async fn at_the_cap_a_new_slug_is_refused_and_known_slugs_keep_working() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "2"]);
    app.execute_in("first").await.execution_id();
    app.execute_in("second").await.execution_id();
    let before = app.stored();

    let refused = app.execute_in("third").await;

    assert_cap_reached(&refused, 2, 2);
    assert!(refused.message().contains("third"), "{}", refused.text);
    assert_eq!(
        app.stored(),
        before,
        "nothing recorded for the refused slug"
    );
    assert_eq!(executions_in(&app, "third"), 0);
    app.execute_in("first").await.execution_id();
    app.execute_in("second").await.execution_id();
    app.execute(&json!({"parameters": {}})).await.execution_id();
    assert_eq!(app.count("SELECT count(*) FROM environments"), 2);
}

#[actix_web::test]
async fn the_cap_set_while_serving_applies_to_the_next_request() {
    let app = spawn_app().await;
    app.execute_in("first").await.execution_id();
    app.execute_in("second").await.execution_id();

    app.cli(&["tenant", "set-cap", "demo", "1"]);
    assert_cap_reached(&app.execute_in("third").await, 1, 2);
    app.execute_in("second").await.execution_id();

    app.cli(&["tenant", "set-cap", "demo", "3"]);
    app.execute_in("third").await.execution_id();
    assert_cap_reached(&app.execute_in("fourth").await, 3, 3);

    app.cli(&["tenant", "set-cap", "demo", "0"]);
    assert_cap_reached(&app.execute_in("fifth").await, 0, 3);
    app.execute(&json!({"parameters": {}})).await.execution_id();
    assert_eq!(app.count("SELECT count(*) FROM environments"), 3);
}

#[actix_web::test]
async fn parallel_first_sightings_admit_exactly_the_remaining_places() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "40"]);
    let warm_up: Vec<_> = (0..30)
        .map(|i| app.spawn_post(Some(&app.admin_key), EXECUTE, &tagged(&format!("old_{i}"))))
        .collect();
    for handle in warm_up {
        handle.await.unwrap().execution_id();
    }
    assert_eq!(app.count("SELECT count(*) FROM environments"), 30);

    let racers: Vec<_> = (0..40)
        .map(|i| app.spawn_post(Some(&app.admin_key), EXECUTE, &tagged(&format!("new_{i}"))))
        .collect();
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for (i, handle) in racers.into_iter().enumerate() {
        let reply = handle.await.unwrap();
        if reply.status == 200 {
            admitted.push(format!("new_{i}"));
        } else {
            assert_eq!(reply.reason(), "ENVIRONMENT_CAP_REACHED", "{}", reply.text);
            assert_cap_reached(&reply, 40, 40);
            refused.push(format!("new_{i}"));
        }
    }

    assert_eq!((admitted.len(), refused.len()), (10, 30));
    assert_eq!(app.count("SELECT count(*) FROM environments"), 40);
    assert_eq!(app.count("SELECT count(*) FROM executions"), 40);
    for slug in &admitted {
        assert_eq!(
            executions_in(&app, slug),
            1,
            "{slug} was admitted and recorded"
        );
    }
    for slug in &refused {
        assert_eq!(
            executions_in(&app, slug),
            0,
            "{slug} was refused and not recorded"
        );
        let sql = format!("SELECT count(*) FROM environments WHERE slug = '{slug}'");
        assert_eq!(app.count(&sql), 0, "{slug} was not registered");
    }
}

#[actix_web::test]
async fn parallel_first_sightings_of_one_slug_all_succeed_and_register_it_once() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "1"]);

    let racers: Vec<_> = (0..24)
        .map(|_| app.spawn_post(Some(&app.admin_key), EXECUTE, &tagged("popular")))
        .collect();
    for handle in racers {
        handle.await.unwrap().execution_id();
    }

    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE slug = 'popular'"),
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM environments"), 1);
    assert_eq!(executions_in(&app, "popular"), 24);
}

#[actix_web::test]
async fn the_default_cap_comes_from_the_settings() {
    let app = spawn_app_with(|s| s.default_environment_cap = 3).await;
    for slug in ["one", "two", "three"] {
        app.execute_in(slug).await.execution_id();
    }

    assert_cap_reached(&app.execute_in("four").await, 3, 3);

    // The tenant's own cap overrides the default.
    app.cli(&["tenant", "set-cap", "demo", "4"]);
    app.execute_in("four").await.execution_id();
    assert_cap_reached(&app.execute_in("five").await, 4, 4);
    assert_eq!(app.count("SELECT count(*) FROM environments"), 4);
}

#[actix_web::test]
async fn the_cap_is_per_tenant() {
    let app = spawn_app().await;
    let other_key = app.cli_key(&["tenant", "create", "other"]);
    app.cli(&["tenant", "set-cap", "demo", "1"]);
    app.execute_in("demo_only").await.execution_id();
    assert_cap_reached(&app.execute_in("elsewhere").await, 1, 1);

    let created = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents",
            &json!({"id": "bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    for slug in ["elsewhere", "demo_only", "third"] {
        let reply = app
            .post_as(
                Some(&other_key),
                "/v1/tenants/other/agents/bot:execute",
                &tagged(slug),
            )
            .await;
        reply.execution_id();
    }

    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE tenant_id = 'other'"),
        3
    );
    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE tenant_id = 'demo'"),
        1
    );
}

#[actix_web::test]
async fn a_missing_agent_is_reported_before_the_cap_is_checked() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "0"]);
    let before = app.stored();

    let missing_agent = app
        .post("/v1/tenants/demo/agents/nope:execute", &tagged("fresh"))
        .await;
    let capped = app.execute_in("fresh").await;

    missing_agent.assert_error(404, "NOT_FOUND");
    assert_cap_reached(&capped, 0, 0);
    assert_eq!(app.stored(), before);
}

fn tagged(slug: &str) -> serde_json::Value {
    json!({"parameters": {"q": "hi"}, "environmentSlug": slug})
}
