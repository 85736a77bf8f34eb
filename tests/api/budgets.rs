//! Budgets per environment (and per agent within one): validation, thresholds that fire once
//! per period, enforcement with `Retry-After`, the default budget of new environments, periods
//! in the tenant's time zone, signed webhooks with retries, and alerts under concurrency.
//!
//! Every test runs on a `ManualClock`, so periods roll over when the test says so.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    ManualClock, Reply, TestAgent, TestApp, micros, ms, spawn_app_on, spawn_app_with_clock,
};
use crate::smtp::SmtpSink;

/// A Tuesday, noon UTC: 12 hours to the end of the day, 5.5 days to the end of the ISO week,
/// 21.5 days to the end of the month.
const NOON: &str = "2026-03-10T12:00:00Z";
const ADMIN: &str = "ops@example.com";
const SETTINGS: &str = "/v1/tenants/demo/settings";
const ENVS: &str = "/v1/tenants/demo/environments";

fn budget_path(slug: &str) -> String {
    format!("{ENVS}/{slug}/budget")
}

fn status_path(slug: &str) -> String {
    format!("{ENVS}/{slug}/budget:status")
}

async fn put(app: &TestApp, path: &str, body: &Value) -> Reply {
    put_raw(app, path, &body.to_string()).await
}

async fn put_raw(app: &TestApp, path: &str, raw: &str) -> Reply {
    app.send("PUT", path, Some(&app.admin_key), Some(raw.as_bytes()))
        .await
}

/// Sets a budget, expecting success; returns the budget as the server echoes it.
async fn set_budget(app: &TestApp, path: &str, body: &Value) -> Value {
    let reply = put(app, path, body).await;
    assert_eq!(reply.status, 200, "PUT {path} {body}: {}", reply.text);
    reply.body
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let reply = app.get(path).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    reply.body
}

async fn status(app: &TestApp, slug: &str) -> Value {
    get_ok(app, &status_path(slug)).await
}

async fn settings(app: &TestApp, body: &Value) -> Value {
    let reply = put(app, SETTINGS, body).await;
    assert_eq!(reply.status, 200, "PUT settings {body}: {}", reply.text);
    reply.body
}

async fn create_env(app: &TestApp, slug: &str) {
    let reply = app.post(ENVS, &json!({"slug": slug})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// Runs `agent`, tagged with `slug` when given.
async fn run(app: &TestApp, agent: &str, slug: Option<&str>) -> Reply {
    let mut body = json!({"parameters": {"q": "hi"}});
    if let Some(slug) = slug {
        body["environmentSlug"] = json!(slug);
    }
    app.post(&format!("/v1/tenants/demo/agents/{agent}:execute"), &body)
        .await
}

/// Runs `agent` in `slug` `n` times, each expected to succeed.
async fn run_ok(app: &TestApp, agent: &str, slug: &str, n: usize) {
    for i in 0..n {
        let reply = run(app, agent, Some(slug)).await;
        assert_eq!(
            reply.status, 200,
            "run {i} of {agent} in {slug}: {}",
            reply.text
        );
    }
}

/// The budget alerts to the admins (e-mail, not webhook), oldest first.
async fn budget_alerts(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/v1/tenants/demo/notifications?pageSize=100").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let webhooks: Vec<String> = webhook_rows(app).into_iter().map(|w| w.id).collect();
    let mut all: Vec<Value> = reply.body["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("no notifications array: {}", reply.text))
        .iter()
        .filter(|n| n["kind"] == "budget_threshold")
        .filter(|n| !webhooks.iter().any(|id| n["id"] == id.as_str()))
        .cloned()
        .collect();
    all.reverse();
    all
}

/// A webhook notification as stored.
#[derive(Debug)]
struct WebhookRow {
    id: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
}

/// The webhook notifications, oldest first (the list API does not show the channel).
fn webhook_rows(app: &TestApp) -> Vec<WebhookRow> {
    let db = app.db();
    let mut stmt = db
        .prepare(
            "SELECT id, status, attempts, last_error FROM notifications
             WHERE channel = 'webhook' ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(WebhookRow {
            id: r.get::<_, i64>(0)?.to_string(),
            status: r.get(1)?,
            attempts: r.get(2)?,
            last_error: r.get(3)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The threshold an alert names in its subject ("... reached 80% of its day budget").
#[track_caller]
fn threshold_of(subject: &str) -> i64 {
    let rest = subject
        .split_once("reached ")
        .unwrap_or_else(|| panic!("no threshold in {subject:?}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// The thresholds of the e-mail alerts so far, in the order they were raised.
async fn alerted(app: &TestApp) -> Vec<i64> {
    budget_alerts(app)
        .await
        .iter()
        .map(|n| threshold_of(n["subject"].as_str().unwrap()))
        .collect()
}

/// Creates an `http` agent reaching `url`.
async fn http_agent(app: &TestApp, id: &str, url: &str) {
    app.create_http_agent(id, url, 10_000).await;
}

/// Polls `check` until it returns `Some`, or panics with `what` after `within`.
async fn eventually<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_budget_that_breaks_a_rule_is_refused_with_the_field_named_and_nothing_stored() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    let path = budget_path("acme");
    let kept = set_budget(&app, &path, &json!({"limitUsd": 500, "period": "month"})).await;

    let bad_field = "INVALID_ARGUMENT";
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"period": "day"}"#, bad_field, "limitUsd"),
        (
            r#"{"limitUsd": null, "limitExecutions": null, "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (
            r#"{"limitUsd": -1, "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (r#"{"limitUsd": 0, "period": "day"}"#, bad_field, "limitUsd"),
        (
            r#"{"limitUsd": 0.0000001, "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (
            r#"{"limitUsd": 1.1234567, "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (
            r#"{"limitUsd": 1e300, "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (
            r#"{"limitUsd": "500", "period": "day"}"#,
            bad_field,
            "limitUsd",
        ),
        (
            r#"{"limitExecutions": 0, "period": "day"}"#,
            bad_field,
            "limitExecutions",
        ),
        (
            r#"{"limitExecutions": -3, "period": "day"}"#,
            bad_field,
            "limitExecutions",
        ),
        (
            r#"{"limitExecutions": 2.5, "period": "day"}"#,
            bad_field,
            "limitExecutions",
        ),
        (
            r#"{"limitExecutions": "10", "period": "day"}"#,
            bad_field,
            "limitExecutions",
        ),
        (
            r#"{"limitUsd": 5, "limitExecutions": 0, "period": "day"}"#,
            bad_field,
            "limitExecutions",
        ),
        (r#"{"limitExecutions": 10}"#, bad_field, "period"),
        (
            r#"{"limitExecutions": 10, "period": "year"}"#,
            bad_field,
            "period",
        ),
        (
            r#"{"limitExecutions": 10, "period": "Day"}"#,
            bad_field,
            "period",
        ),
        (
            r#"{"limitExecutions": 10, "period": 30}"#,
            bad_field,
            "period",
        ),
        (
            r#"{"limitExecutions": 10, "period": null}"#,
            bad_field,
            "period",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "thresholds": [0]}"#,
            bad_field,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "thresholds": [50, 1001]}"#,
            bad_field,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "thresholds": [-50]}"#,
            bad_field,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day",
                "thresholds": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}"#,
            bad_field,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "thresholds": "50"}"#,
            bad_field,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "thresholds": [50.5]}"#,
            bad_field,
            "thresholds[0]",
        ),
        (
            r#"{"limitExecutions": 10, "period": "day", "enforce": "yes"}"#,
            bad_field,
            "enforce",
        ),
        (r#"[]"#, bad_field, "body"),
        (
            r#"{"limitUSD": 5, "period": "day"}"#,
            "UNKNOWN_FIELD",
            "limitUSD",
        ),
        (
            r#"{"limitExecutions": 5, "period": "day", "threshold": [50]}"#,
            "UNKNOWN_FIELD",
            "threshold",
        ),
        (
            r#"{"limitExecutions": 5, "period": "day", "enforced": true}"#,
            "UNKNOWN_FIELD",
            "enforced",
        ),
    ];
    for (raw, reason, field) in cases {
        let reply = put_raw(&app, &path, raw).await;
        reply.assert_refused(400, reason, raw);
        assert_eq!(
            reply.status_word(),
            "INVALID_ARGUMENT",
            "{raw}: {}",
            reply.text
        );
        assert_eq!(reply.metadata()["field"], *field, "{raw}: {}", reply.text);
    }

    // The unknown fields are typos of known ones: the answer says which.
    for (raw, suggestion) in [
        (r#"{"limitUSD": 5, "period": "day"}"#, "limitUsd"),
        (
            r#"{"limitExecutions": 5, "period": "day", "threshold": [50]}"#,
            "thresholds",
        ),
        (
            r#"{"limitExecutions": 5, "period": "day", "enforced": true}"#,
            "enforce",
        ),
    ] {
        let reply = put_raw(&app, &path, raw).await;
        assert_eq!(reply.metadata()["suggestion"], suggestion, "{}", reply.text);
        assert!(
            reply
                .message()
                .contains(&format!("did you mean {suggestion}")),
            "{}",
            reply.text
        );
    }

    for raw in ["", "{", r#"{"limitUsd": 5, "period": "day"} x"#] {
        put_raw(&app, &path, raw)
            .await
            .assert_refused(400, "MALFORMED_JSON", raw);
    }

    assert_eq!(
        get_ok(&app, &path).await,
        kept,
        "a refused PUT changes nothing"
    );
    assert_eq!(app.count("SELECT count(*) FROM budgets"), 1);
}

#[actix_web::test]
async fn a_budget_for_an_unknown_environment_or_agent_is_not_found() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let body = json!({"limitExecutions": 10, "period": "day"});

    let reply = put(&app, &budget_path("nowhere"), &body).await;
    reply.assert_error(404, "NOT_FOUND");
    assert_eq!(
        reply.metadata()["environmentSlug"],
        "nowhere",
        "{}",
        reply.text
    );
    assert_eq!(
        app.count("SELECT count(*) FROM environments"),
        0,
        "setting a budget does not create the environment"
    );

    create_env(&app, "acme").await;
    let reply = put(&app, &format!("{}?agent=ghost", budget_path("acme")), &body).await;
    reply.assert_error(404, "NOT_FOUND");
    assert_eq!(reply.metadata()["agent"], "ghost", "{}", reply.text);
    assert_eq!(app.count("SELECT count(*) FROM budgets"), 0);

    // An environment without a budget: reading, its status and deleting are all 404.
    for path in [budget_path("acme"), status_path("acme")] {
        let reply = app.get(&path).await;
        reply.assert_error(404, "NOT_FOUND");
        assert_eq!(
            reply.metadata()["environmentSlug"],
            "acme",
            "{}",
            reply.text
        );
    }
    app.delete(&budget_path("acme"))
        .await
        .assert_error(404, "NOT_FOUND");
    for path in [
        budget_path("nowhere"),
        status_path("nowhere"),
        budget_path("Bad%20Slug"),
    ] {
        app.get(&path).await.assert_error(404, "NOT_FOUND");
    }

    // A query parameter that does not exist is named, not ignored.
    let reply = put(
        &app,
        &format!("{}?agnt=support-bot", budget_path("acme")),
        &body,
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(app.count("SELECT count(*) FROM budgets"), 0);
}

#[actix_web::test]
async fn only_an_admin_key_of_the_tenant_may_read_or_change_budgets_and_alert_settings() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 1, "period": "day", "enforce": true});
    set_budget(&app, &budget_path("acme"), &budget).await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_admin = app.cli_key(&["tenant", "create", "other_co"]);

    let body = budget.to_string();
    let requests: Vec<(&str, String, Option<&str>)> = vec![
        ("PUT", budget_path("acme"), Some(body.as_str())),
        ("GET", budget_path("acme"), None),
        ("DELETE", budget_path("acme"), None),
        ("GET", status_path("acme"), None),
        ("GET", "/v1/tenants/demo/budgets".to_string(), None),
        (
            "PUT",
            SETTINGS.to_string(),
            Some(r#"{"timeZone": "Europe/Berlin"}"#),
        ),
        (
            "POST",
            format!("{SETTINGS}:rotateWebhookSecret"),
            Some("{}"),
        ),
    ];
    for (method, path, body) in &requests {
        let body = body.map(str::as_bytes);
        let what = format!("{method} {path}");
        app.send(method, path, Some(&execute_key), body)
            .await
            .assert_refused(
                403,
                "PERMISSION_DENIED",
                &format!("{what} with an execute key"),
            );
        app.send(method, path, Some(&other_admin), body)
            .await
            .assert_refused(
                403,
                "PERMISSION_DENIED",
                &format!("{what} by another tenant"),
            );
        app.send(method, path, None, body).await.assert_refused(
            401,
            "UNAUTHENTICATED",
            &format!("{what} without a key"),
        );
    }

    // Nothing changed: the budget is there, the zone is UTC, no secret was made.
    assert_eq!(
        get_ok(&app, &budget_path("acme")).await["limitExecutions"],
        1
    );
    let stored = get_ok(&app, SETTINGS).await;
    assert_eq!(stored["timeZone"], "UTC", "{stored}");
    assert_eq!(stored["webhookSecretSet"], false, "{stored}");

    // The execute key runs agents, and the budget applies to it.
    let path = "/v1/tenants/demo/agents/support-bot:execute";
    let run = json!({"parameters": {}, "environmentSlug": "acme"});
    let first = app.post_as(Some(&execute_key), path, &run).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let refused = app.post_as(Some(&execute_key), path, &run).await;
    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
}

#[actix_web::test]
async fn a_budget_is_stored_as_sent_listed_replaced_and_deleted() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    create_env(&app, "beta").await;
    let path = budget_path("acme");

    let echoed = set_budget(&app, &path, &json!({"limitUsd": 500, "period": "month"})).await;
    let expected = json!({
        "environmentSlug": "acme",
        "agent": null,
        "limitUsd": 500.0,
        "limitExecutions": null,
        "period": "month",
        "thresholds": [50, 80, 100],
        "enforce": false,
    });
    assert_eq!(echoed["environmentSlug"], "acme");
    assert_eq!(micros(&echoed["limitUsd"]), 500_000_000, "{echoed}");
    for field in [
        "agent",
        "limitExecutions",
        "period",
        "thresholds",
        "enforce",
    ] {
        assert_eq!(echoed[field], expected[field], "{field}: {echoed}");
    }
    assert_eq!(
        get_ok(&app, &path).await,
        echoed,
        "GET shows what PUT answered"
    );

    // Replaced: thresholds come back sorted, without duplicates.
    let replaced = set_budget(
        &app,
        &path,
        &json!({
            "limitUsd": 0.25, "limitExecutions": 1, "period": "week",
            "thresholds": [100, 25, 25], "enforce": true
        }),
    )
    .await;
    assert_eq!(micros(&replaced["limitUsd"]), 250_000, "{replaced}");
    assert_eq!(replaced["limitExecutions"], 1);
    assert_eq!(replaced["period"], "week");
    assert_eq!(replaced["thresholds"], json!([25, 100]));
    assert_eq!(replaced["enforce"], true);
    assert_eq!(get_ok(&app, &path).await, replaced);
    assert_eq!(
        app.count("SELECT count(*) FROM budgets"),
        1,
        "replaced, not added"
    );

    set_budget(
        &app,
        &budget_path("beta"),
        &json!({"limitExecutions": 7, "period": "day"}),
    )
    .await;
    let list = get_ok(&app, "/v1/tenants/demo/budgets").await;
    let listed: Vec<(&str, &str)> = list["budgets"]
        .as_array()
        .unwrap_or_else(|| panic!("no budgets array: {list}"))
        .iter()
        .map(|b| {
            (
                b["environmentSlug"].as_str().unwrap(),
                b["period"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, vec![("acme", "week"), ("beta", "day")], "{list}");
    assert_eq!(list["budgets"][1]["limitExecutions"], 7, "{list}");
    assert_eq!(list["budgets"][1]["executions"], 0, "{list}");

    // Enforced at one execution: the second run is refused until the budget goes away.
    run_ok(&app, "support-bot", "acme", 1).await;
    run(&app, "support-bot", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    // Raising the limit admits again at once.
    set_budget(
        &app,
        &path,
        &json!({"limitExecutions": 2, "period": "week", "enforce": true}),
    )
    .await;
    run_ok(&app, "support-bot", "acme", 1).await;
    run(&app, "support-bot", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");

    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    app.get(&path).await.assert_error(404, "NOT_FOUND");
    app.delete(&path).await.assert_error(404, "NOT_FOUND");
    run_ok(&app, "support-bot", "acme", 1).await;
    let list = get_ok(&app, "/v1/tenants/demo/budgets").await;
    assert_eq!(list["budgets"].as_array().unwrap().len(), 1, "{list}");
}

#[actix_web::test]
async fn a_budget_set_mid_period_counts_what_the_period_already_spent() {
    let clock = ManualClock::at("2026-03-09T08:00:00Z");
    let app = spawn_app_with_clock(&clock).await;
    run_ok(&app, "support-bot", "acme", 2).await; // yesterday: not this period
    clock.set(NOON);
    run_ok(&app, "support-bot", "acme", 3).await;
    assert_eq!(run(&app, "support-bot", None).await.status, 200, "untagged");
    run_ok(&app, "support-bot", "other", 1).await;

    set_budget(
        &app,
        &budget_path("acme"),
        &json!({"limitExecutions": 4, "period": "day"}),
    )
    .await;
    let now = status(&app, "acme").await;
    assert_eq!(now["executions"], 3, "{now}");
    assert_eq!(now["periodStart"], "2026-03-10T00:00:00.000Z", "{now}");
    assert_eq!(now["percentUsed"].as_f64(), Some(75.0), "{now}");
    let stored: i64 = app.count(&format!(
        "SELECT sum(cost_micros) FROM executions
         WHERE environment_slug = 'acme' AND started_at >= {}",
        ms("2026-03-10T00:00:00Z")
    ));
    assert_eq!(micros(&now["spentUsd"]), stored, "{now}");
    assert_eq!(
        now["firedThresholds"],
        json!([]),
        "seeding raises no alert: {now}"
    );

    // The next run reaches 100%: its alert goes out, and no threshold twice.
    run_ok(&app, "support-bot", "acme", 1).await;
    let alerts = alerted(&app).await;
    assert_eq!(alerts.last(), Some(&100), "{alerts:?}");
    let mut unique = alerts.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique, alerts, "each threshold at most once, in order");
    let now = status(&app, "acme").await;
    assert_eq!(now["executions"], 4, "{now}");
    assert_eq!(now["firedThresholds"], json!([50, 80, 100]), "{now}");
}

#[actix_web::test]
async fn thresholds_fire_once_each_per_period_and_again_in_the_next_period() {
    let sink = SmtpSink::start();
    let clock = ManualClock::at(NOON);
    let url = sink.url();
    let app = spawn_app_on(|s| s.smtp_url = Some(url), Arc::new(clock.clone())).await;
    settings(&app, &json!({"adminEmails": [ADMIN]})).await;
    create_env(&app, "acme").await;
    set_budget(
        &app,
        &budget_path("acme"),
        &json!({"limitExecutions": 10, "period": "day"}),
    )
    .await;

    let mut fired_after = Vec::new();
    for _ in 0..12 {
        run_ok(&app, "support-bot", "acme", 1).await;
        fired_after.push(alerted(&app).await.len());
    }
    // Alert 1 at 5 runs, 2 at 8, 3 at 10; nothing more past 100% (the budget is not enforced).
    assert_eq!(fired_after, vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3]);
    assert_eq!(alerted(&app).await, vec![50, 80, 100]);

    let day = status(&app, "acme").await;
    assert_eq!(day["period"], "day");
    assert_eq!(day["periodStart"], "2026-03-10T00:00:00.000Z", "{day}");
    assert_eq!(day["resetsAt"], "2026-03-11T00:00:00.000Z", "{day}");
    assert_eq!(day["executions"], 12, "{day}");
    assert_eq!(day["limitExecutions"], 10, "{day}");
    assert_eq!(day["percentUsed"].as_f64(), Some(120.0), "{day}");
    assert_eq!(day["firedThresholds"], json!([50, 80, 100]), "{day}");
    assert_eq!(day["enforce"], false, "{day}");

    // The admins got one e-mail per threshold, naming the environment and the usage.
    let mails = sink.wait_for(3, Duration::from_secs(10));
    let subjects: Vec<String> = mails.iter().map(|m| m.subject()).collect();
    for (subject, threshold) in subjects.iter().zip([50, 80, 100]) {
        assert!(subject.contains("acme"), "{subjects:?}");
        assert_eq!(threshold_of(subject), threshold, "{subjects:?}");
    }
    assert!(
        mails.iter().all(|m| m.to == vec![format!("<{ADMIN}>")]),
        "{mails:?}"
    );
    let body = mails[0].data.replace("=\r\n", "");
    assert!(body.contains("5 of 10 executions"), "{body}");
    for n in budget_alerts(&app).await {
        assert_eq!(n["recipients"], json!([ADMIN]), "{n}");
    }

    // Midnight: a new day starts at zero, with nothing fired, and no new alert by itself.
    clock.set("2026-03-11T00:00:00Z");
    let next = status(&app, "acme").await;
    assert_eq!(next["periodStart"], "2026-03-11T00:00:00.000Z", "{next}");
    assert_eq!(next["resetsAt"], "2026-03-12T00:00:00.000Z", "{next}");
    assert_eq!(next["executions"], 0, "{next}");
    assert_eq!(micros(&next["spentUsd"]), 0, "{next}");
    assert_eq!(next["percentUsed"].as_f64(), Some(0.0), "{next}");
    assert_eq!(next["firedThresholds"], json!([]), "{next}");
    assert_eq!(alerted(&app).await.len(), 3);

    run_ok(&app, "support-bot", "acme", 4).await;
    assert_eq!(
        alerted(&app).await.len(),
        3,
        "4 of 10 is below every threshold"
    );
    run_ok(&app, "support-bot", "acme", 1).await;
    assert_eq!(
        alerted(&app).await,
        vec![50, 80, 100, 50],
        "50% fires again"
    );
    assert_eq!(status(&app, "acme").await["firedThresholds"], json!([50]));
    sink.wait_for(4, Duration::from_secs(10));
}

#[actix_web::test]
async fn a_raised_limit_rearms_the_thresholds_its_spend_no_longer_reaches() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    settings(&app, &json!({"adminEmails": [ADMIN]})).await;
    create_env(&app, "acme").await;
    let path = budget_path("acme");
    set_budget(
        &app,
        &path,
        &json!({"limitExecutions": 10, "period": "day"}),
    )
    .await;
    run_ok(&app, "support-bot", "acme", 10).await;
    assert_eq!(alerted(&app).await, vec![50, 80, 100]);

    // 10 runs of a new limit of 16 is 62.5%: 50 stays fired, 80 and 100 re-arm.
    set_budget(
        &app,
        &path,
        &json!({"limitExecutions": 16, "period": "day"}),
    )
    .await;
    assert_eq!(status(&app, "acme").await["firedThresholds"], json!([50]));
    run_ok(&app, "support-bot", "acme", 3).await;
    assert_eq!(
        alerted(&app).await,
        vec![50, 80, 100, 80],
        "13 of 16 reaches 80% of the new limit, and 50% is not repeated"
    );
    run_ok(&app, "support-bot", "acme", 3).await;
    assert_eq!(alerted(&app).await, vec![50, 80, 100, 80, 100]);

    // Lowering the limit again keeps what is still reached fired: no alert repeats.
    set_budget(
        &app,
        &path,
        &json!({"limitExecutions": 12, "period": "day"}),
    )
    .await;
    run_ok(&app, "support-bot", "acme", 1).await;
    assert_eq!(alerted(&app).await.len(), 5);
    assert_eq!(
        status(&app, "acme").await["firedThresholds"],
        json!([50, 80, 100])
    );
}

#[actix_web::test]
async fn the_run_that_reaches_the_limit_passes_and_the_next_is_refused_until_the_reset() {
    let clock = ManualClock::at(NOON);
    let app = spawn_app_with_clock(&clock).await;
    let agent = TestAgent::start().await;
    http_agent(&app, "ext", &agent.url("/ok")).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 3, "period": "day", "enforce": true});
    set_budget(&app, &budget_path("acme"), &budget).await;

    run_ok(&app, "ext", "acme", 3).await;
    assert_eq!(agent.calls(), 3);
    let executions = app.count("SELECT count(*) FROM executions");

    clock.advance(500); // half a second into the second: Retry-After rounds up
    let refused = run(&app, "ext", Some("acme")).await;
    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(
        refused.status_word(),
        "RESOURCE_EXHAUSTED",
        "{}",
        refused.text
    );
    assert_eq!(
        refused.header("retry-after"),
        Some("43200"),
        "{:?}",
        refused.headers
    );
    let meta = refused.metadata();
    assert_eq!(meta["environmentSlug"], "acme", "{meta}");
    assert_eq!(meta["period"], "day", "{meta}");
    assert_eq!(meta["limitExecutions"], 3, "{meta}");
    assert_eq!(meta["executions"], 3, "{meta}");
    assert_eq!(micros(&meta["spentUsd"]), 3 * 33_000, "{meta}");
    assert_eq!(meta["resetsAt"], "2026-03-11T00:00:00.000Z", "{meta}");
    assert!(
        meta.get("limitUsd").is_none(),
        "no dollar limit was set: {meta}"
    );
    assert!(refused.message().contains("acme"), "{}", refused.text);

    // Refused before the agent runs: nothing called, nothing recorded, nothing counted.
    assert_eq!(
        agent.calls(),
        3,
        "the agent is not called for a refused run"
    );
    assert_eq!(app.count("SELECT count(*) FROM executions"), executions);
    assert_eq!(status(&app, "acme").await["executions"], 3);

    // The stream is refused the same way, as JSON before any event.
    let body = json!({"parameters": {}, "environmentSlug": "acme"});
    let streamed = app.post("/v1/tenants/demo/agents/ext:stream", &body).await;
    streamed.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(streamed.header("retry-after"), Some("43200"));
    assert_eq!(agent.calls(), 3);

    // Untagged runs and other environments are not this budget's business.
    assert_eq!(run(&app, "ext", None).await.status, 200);
    run_ok(&app, "ext", "other", 1).await;
    assert_eq!(agent.calls(), 5);

    // An hour later the wait is an hour shorter.
    clock.set("2026-03-10T13:00:00Z");
    let later = run(&app, "ext", Some("acme")).await;
    later.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(later.header("retry-after"), Some("39600"));
    clock.set("2026-03-10T23:59:59.999Z");
    let last = run(&app, "ext", Some("acme")).await;
    last.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(
        last.header("retry-after"),
        Some("1"),
        "a moment left rounds up to 1 s"
    );

    // The new day admits again, up to the limit.
    clock.set("2026-03-11T00:00:00Z");
    run_ok(&app, "ext", "acme", 3).await;
    assert_eq!(agent.calls(), 8);
    let again = run(&app, "ext", Some("acme")).await;
    again.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(again.header("retry-after"), Some("86400"));
    assert_eq!(again.metadata()["resetsAt"], "2026-03-12T00:00:00.000Z");
    assert_eq!(agent.calls(), 8);
}

#[actix_web::test]
async fn retry_after_counts_the_seconds_to_the_end_of_the_day_the_week_or_the_month() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let cases = [
        ("daily", "day", 43_200, "2026-03-11T00:00:00.000Z"),
        ("weekly", "week", 475_200, "2026-03-16T00:00:00.000Z"),
        ("monthly", "month", 1_857_600, "2026-04-01T00:00:00.000Z"),
    ];
    for (slug, period, seconds, resets_at) in cases {
        create_env(&app, slug).await;
        let budget = json!({"limitExecutions": 1, "period": period, "enforce": true});
        set_budget(&app, &budget_path(slug), &budget).await;
        run_ok(&app, "support-bot", slug, 1).await;
        let refused = run(&app, "support-bot", Some(slug)).await;
        refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
        let retry_after = seconds.to_string();
        assert_eq!(
            refused.header("retry-after"),
            Some(retry_after.as_str()),
            "{period}"
        );
        assert_eq!(refused.metadata()["resetsAt"], resets_at, "{period}");
        assert_eq!(refused.metadata()["period"], period, "{period}");
        assert_eq!(status(&app, slug).await["resetsAt"], resets_at, "{period}");
    }
}

#[actix_web::test]
async fn with_two_budgets_used_up_retry_after_waits_for_the_one_that_resets_last() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    let month = json!({"limitExecutions": 1, "period": "month", "enforce": true});
    set_budget(&app, &budget_path("acme"), &month).await;
    let day = json!({"limitExecutions": 1, "period": "day", "enforce": true});
    let agent_path = format!("{}?agent=support-bot", budget_path("acme"));
    set_budget(&app, &agent_path, &day).await;
    run_ok(&app, "support-bot", "acme", 1).await;

    let refused = run(&app, "support-bot", Some("acme")).await;

    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(
        refused.header("retry-after"),
        Some("1857600"),
        "{}",
        refused.text
    );
    assert_eq!(refused.metadata()["period"], "month", "{}", refused.text);
    assert_eq!(refused.metadata()["tenant"], "demo", "{}", refused.text);
}

#[actix_web::test]
async fn a_dollar_limit_refuses_once_the_spend_reaches_it() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let agent = TestAgent::start().await;
    http_agent(&app, "priced", &agent.url("/priced")).await; // $0.50 a run
    create_env(&app, "acme").await;
    let budget = json!({"limitUsd": 1.2, "period": "month", "enforce": true});
    set_budget(&app, &budget_path("acme"), &budget).await;

    run_ok(&app, "priced", "acme", 2).await;
    let partway = status(&app, "acme").await;
    assert_eq!(micros(&partway["spentUsd"]), 1_000_000, "{partway}");
    assert_eq!(partway["percentUsed"].as_f64(), Some(83.33), "{partway}");
    // $1.00 of $1.20: not yet reached, so the third run goes (and overshoots to $1.50).
    run_ok(&app, "priced", "acme", 1).await;
    assert_eq!(agent.calls(), 3);

    let refused = run(&app, "priced", Some("acme")).await;
    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    let meta = refused.metadata();
    assert_eq!(micros(&meta["limitUsd"]), 1_200_000, "{meta}");
    assert_eq!(micros(&meta["spentUsd"]), 1_500_000, "{meta}");
    assert_eq!(meta["executions"], 3, "{meta}");
    assert!(meta.get("limitExecutions").is_none(), "{meta}");
    assert_eq!(meta["resetsAt"], "2026-04-01T00:00:00.000Z", "{meta}");
    assert_eq!(refused.header("retry-after"), Some("1857600"));
    assert_eq!(agent.calls(), 3, "the agent is not called");
    assert_eq!(alerted(&app).await, vec![50, 80, 100]);
    assert_eq!(
        status(&app, "acme").await["percentUsed"].as_f64(),
        Some(125.0)
    );
}

#[actix_web::test]
async fn an_unenforced_budget_never_refuses_but_still_alerts_at_100_percent() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 2, "period": "day", "thresholds": [100]});
    set_budget(&app, &budget_path("acme"), &budget).await;

    run_ok(&app, "support-bot", "acme", 1).await;
    assert!(alerted(&app).await.is_empty(), "1 of 2 is 50%");
    run_ok(&app, "support-bot", "acme", 6).await;
    assert_eq!(
        alerted(&app).await,
        vec![100],
        "one alert, at 100%, not per run past it"
    );
    let alert = &budget_alerts(&app).await[0];
    assert!(
        alert["body"].as_str().unwrap().contains("not enforced"),
        "the alert says runs continue: {alert}"
    );
    let now = status(&app, "acme").await;
    assert_eq!(now["executions"], 7, "{now}");
    assert_eq!(now["percentUsed"].as_f64(), Some(350.0), "{now}");
    assert_eq!(now["firedThresholds"], json!([100]), "{now}");
}

#[actix_web::test]
async fn the_default_budget_applies_to_environments_created_afterwards_auto_or_explicit() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "before").await;
    run_ok(&app, "support-bot", "before_auto", 1).await;

    let default = json!({"limitExecutions": 2, "period": "week", "enforce": true});
    let shown = settings(&app, &json!({"defaultBudget": default})).await;
    assert_eq!(shown["defaultBudget"]["limitExecutions"], 2, "{shown}");
    assert_eq!(shown["defaultBudget"]["period"], "week", "{shown}");
    assert_eq!(shown["defaultBudget"]["enforce"], true, "{shown}");
    assert_eq!(
        get_ok(&app, SETTINGS).await["defaultBudget"],
        shown["defaultBudget"]
    );

    let expected = |slug: &str| {
        json!({
            "environmentSlug": slug,
            "agent": null,
            "limitUsd": null,
            "limitExecutions": 2,
            "period": "week",
            "thresholds": [50, 80, 100],
            "enforce": true,
        })
    };
    // Auto-created by its first run, which already counts.
    run_ok(&app, "support-bot", "auto", 1).await;
    assert_eq!(get_ok(&app, &budget_path("auto")).await, expected("auto"));
    let auto = status(&app, "auto").await;
    assert_eq!(auto["executions"], 1, "{auto}");
    assert_eq!(auto["periodStart"], "2026-03-09T00:00:00.000Z", "{auto}");
    run_ok(&app, "support-bot", "auto", 1).await;
    run(&app, "support-bot", Some("auto"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");

    create_env(&app, "explicit").await;
    assert_eq!(
        get_ok(&app, &budget_path("explicit")).await,
        expected("explicit")
    );
    assert_eq!(status(&app, "explicit").await["executions"], 0);

    // Environments from before keep having no budget.
    for slug in ["before", "before_auto"] {
        app.get(&budget_path(slug))
            .await
            .assert_error(404, "NOT_FOUND");
    }
    run_ok(&app, "support-bot", "before", 3).await;

    // Settings that leave defaultBudget out keep it; an invalid one is refused and kept too.
    settings(&app, &json!({"timeZone": "UTC"})).await;
    let cases = [
        (
            json!({"period": "week"}),
            "INVALID_ARGUMENT",
            "defaultBudget.limitUsd",
        ),
        (
            json!({"limitExecutions": 0, "period": "week"}),
            "INVALID_ARGUMENT",
            "defaultBudget.limitExecutions",
        ),
        (
            json!({"limitExecutions": 1, "period": "fortnight"}),
            "INVALID_ARGUMENT",
            "defaultBudget.period",
        ),
        (
            json!({"limitExecutions": 1, "period": "week", "enforse": true}),
            "UNKNOWN_FIELD",
            "defaultBudget.enforse",
        ),
    ];
    for (bad, reason, field) in cases {
        let reply = put(&app, SETTINGS, &json!({"defaultBudget": bad})).await;
        reply.assert_refused(400, reason, &bad.to_string());
        assert_eq!(reply.metadata()["field"], field, "{}", reply.text);
    }
    assert_eq!(
        get_ok(&app, SETTINGS).await["defaultBudget"],
        shown["defaultBudget"]
    );
    run_ok(&app, "support-bot", "still", 1).await;
    assert_eq!(get_ok(&app, &budget_path("still")).await, expected("still"));

    // null stops it; the budgets already given stay.
    let cleared = settings(&app, &json!({"defaultBudget": null})).await;
    assert_eq!(cleared["defaultBudget"], Value::Null, "{cleared}");
    run_ok(&app, "support-bot", "after", 3).await;
    create_env(&app, "after_explicit").await;
    for slug in ["after", "after_explicit"] {
        app.get(&budget_path(slug))
            .await
            .assert_error(404, "NOT_FOUND");
    }
    assert_eq!(get_ok(&app, &budget_path("auto")).await, expected("auto"));
}

#[actix_web::test]
async fn changing_the_time_zone_keeps_the_spend_of_the_period() {
    // Tuesday noon UTC, which is 13:00 in Berlin: the same day, week and month either way.
    let clock = ManualClock::at(NOON);
    let app = spawn_app_with_clock(&clock).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 2, "period": "day", "thresholds": [50, 100],
                        "enforce": true});
    set_budget(&app, &budget_path("acme"), &budget).await;
    run_ok(&app, "support-bot", "acme", 2).await;
    run(&app, "support-bot", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    let alerts_before = alerted(&app).await;

    let zoned = settings(&app, &json!({"timeZone": "Europe/Berlin"})).await;
    assert_eq!(zoned["timeZone"], "Europe/Berlin", "{zoned}");

    let now = status(&app, "acme").await;
    assert_eq!(now["periodStart"], "2026-03-09T23:00:00.000Z", "{now}");
    assert_eq!(now["executions"], 2, "the day's runs still count: {now}");
    assert_eq!(now["firedThresholds"], json!([50, 100]), "{now}");
    run(&app, "support-bot", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(
        alerted(&app).await,
        alerts_before,
        "no threshold fires twice"
    );
}

#[actix_web::test]
async fn periods_follow_the_tenant_time_zone() {
    // 03:00 UTC on 10 January is still 9 January in New York (EST, UTC-5).
    let clock = ManualClock::at("2026-01-10T03:00:00Z");
    let app = spawn_app_with_clock(&clock).await;
    assert_eq!(get_ok(&app, SETTINGS).await["timeZone"], "UTC");
    let zoned = settings(&app, &json!({"timeZone": "America/New_York"})).await;
    assert_eq!(zoned["timeZone"], "America/New_York", "{zoned}");

    for (slug, period) in [("daily", "day"), ("weekly", "week"), ("monthly", "month")] {
        create_env(&app, slug).await;
        let budget = json!({"limitExecutions": 1, "period": period, "enforce": true});
        set_budget(&app, &budget_path(slug), &budget).await;
    }
    let expect = |s: &Value, start: &str, end: &str| {
        assert_eq!(s["periodStart"], start, "{s}");
        assert_eq!(s["resetsAt"], end, "{s}");
    };
    let daily = status(&app, "daily").await;
    expect(
        &daily,
        "2026-01-09T05:00:00.000Z",
        "2026-01-10T05:00:00.000Z",
    );
    // Friday 9 January: the ISO week began on Monday the 5th.
    let weekly = status(&app, "weekly").await;
    expect(
        &weekly,
        "2026-01-05T05:00:00.000Z",
        "2026-01-12T05:00:00.000Z",
    );
    let monthly = status(&app, "monthly").await;
    expect(
        &monthly,
        "2026-01-01T05:00:00.000Z",
        "2026-02-01T05:00:00.000Z",
    );

    // Refused until New York's midnight: two hours.
    run_ok(&app, "support-bot", "daily", 1).await;
    let refused = run(&app, "support-bot", Some("daily")).await;
    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(refused.header("retry-after"), Some("7200"));
    assert_eq!(refused.metadata()["resetsAt"], "2026-01-10T05:00:00.000Z");
    clock.set("2026-01-10T05:00:00Z");
    run_ok(&app, "support-bot", "daily", 1).await;

    // 10 March 03:00 UTC is 9 March 23:00 in New York, on daylight time since the 8th (UTC-4).
    clock.set("2026-03-10T03:00:00Z");
    let daily = status(&app, "daily").await;
    expect(
        &daily,
        "2026-03-09T04:00:00.000Z",
        "2026-03-10T04:00:00.000Z",
    );

    // 8 March, the day clocks spring forward, has 23 hours.
    clock.set("2026-03-08T12:00:00Z");
    let daily = status(&app, "daily").await;
    expect(
        &daily,
        "2026-03-08T05:00:00.000Z",
        "2026-03-09T04:00:00.000Z",
    );
    let monthly = status(&app, "monthly").await;
    expect(
        &monthly,
        "2026-03-01T05:00:00.000Z",
        "2026-04-01T04:00:00.000Z",
    );

    // Back to UTC: the same instant falls in UTC's calendar day.
    settings(&app, &json!({"timeZone": "UTC"})).await;
    let daily = status(&app, "daily").await;
    expect(
        &daily,
        "2026-03-08T00:00:00.000Z",
        "2026-03-09T00:00:00.000Z",
    );

    settings(&app, &json!({"timeZone": "Asia/Kolkata"})).await; // UTC+5:30
    let daily = status(&app, "daily").await;
    expect(
        &daily,
        "2026-03-07T18:30:00.000Z",
        "2026-03-08T18:30:00.000Z",
    );

    for bad in [
        json!("Mars/Olympus"),
        json!(""),
        json!("EST5EDTX"),
        json!(5),
    ] {
        let reply = put(&app, SETTINGS, &json!({"timeZone": bad})).await;
        reply.assert_refused(400, "INVALID_ARGUMENT", &bad.to_string());
        assert_eq!(reply.metadata()["field"], "timeZone", "{}", reply.text);
    }
    assert_eq!(get_ok(&app, SETTINGS).await["timeZone"], "Asia/Kolkata");
}

#[actix_web::test]
async fn a_run_counts_in_the_period_it_started_in_even_when_it_ends_after_the_reset() {
    let clock = ManualClock::at("2026-03-10T23:59:59Z");
    let app = spawn_app_with_clock(&clock).await;
    let agent = TestAgent::start().await;
    http_agent(&app, "slow", &agent.url("/slow")).await;
    create_env(&app, "acme").await;
    set_budget(
        &app,
        &budget_path("acme"),
        &json!({"limitExecutions": 1, "period": "day"}),
    )
    .await;

    let body = json!({"parameters": {}, "environmentSlug": "acme"});
    let pending = app.spawn_post(
        Some(&app.admin_key),
        "/v1/tenants/demo/agents/slow:execute",
        &body,
    );
    eventually("the agent to be called", Duration::from_secs(10), || {
        (agent.calls() == 1).then_some(())
    })
    .await;
    clock.set("2026-03-11T00:00:30Z");
    let reply = pending.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);

    let today = status(&app, "acme").await;
    assert_eq!(today["periodStart"], "2026-03-11T00:00:00.000Z", "{today}");
    assert_eq!(today["executions"], 0, "the run started yesterday: {today}");
    assert_eq!(today["firedThresholds"], json!([]), "{today}");
    clock.set("2026-03-10T23:59:59.500Z");
    let yesterday = status(&app, "acme").await;
    assert_eq!(yesterday["executions"], 1, "{yesterday}");
    assert_eq!(
        yesterday["firedThresholds"],
        json!([50, 80, 100]),
        "{yesterday}"
    );
}

/// One webhook delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Hook {
    body: Vec<u8>,
    signature: String,
    content_type: String,
}

impl Hook {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

#[derive(Clone, Default)]
struct Hooks {
    received: Arc<Mutex<Vec<Hook>>>,
    /// How many more requests to answer with HTTP 500.
    failures_left: Arc<AtomicUsize>,
}

/// A team's webhook endpoint on loopback that keeps what it receives.
struct Receiver {
    url: String,
    hooks: Hooks,
}

impl Receiver {
    /// Starts a receiver that answers its first `failures` requests with HTTP 500.
    async fn start(failures: usize) -> Receiver {
        let hooks = Hooks::default();
        hooks.failures_left.store(failures, Ordering::SeqCst);
        let data = web::Data::new(hooks.clone());
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/hooks/fruxon", web::post().to(receive))
        })
        .workers(1)
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("the receiver binds");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/fruxon"),
            hooks,
        }
    }

    fn received(&self) -> Vec<Hook> {
        self.hooks.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Hook> {
        let what = format!("{n} webhook requests");
        eventually(&what, Duration::from_secs(10), || {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

async fn receive(hooks: web::Data<Hooks>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    hooks.received.lock().unwrap().push(Hook {
        body: body.to_vec(),
        signature: header("X-Fruxon-Signature"),
        content_type: header("Content-Type"),
    });
    let failing = hooks
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        HttpResponse::InternalServerError().body("not today")
    } else {
        HttpResponse::NoContent().finish()
    }
}

/// Whether `header` is `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
fn signed_by(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return false;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// Points the tenant's alerts at `receiver` and returns the new signing secret.
async fn configure_webhook(app: &TestApp, receiver: &Receiver) -> String {
    let shown = settings(app, &json!({"alertWebhookUrl": receiver.url})).await;
    assert_eq!(shown["alertWebhookUrl"], receiver.url, "{shown}");
    let rotated = app
        .post(&format!("{SETTINGS}:rotateWebhookSecret"), &json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let secret = rotated.body["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret: {}", rotated.text))
        .to_string();
    assert!(secret.len() >= 32, "a secret worth the name: {secret}");
    let settings = get_ok(app, SETTINGS).await;
    assert_eq!(settings["webhookSecretSet"], true, "{settings}");
    assert!(
        !settings.to_string().contains(&secret),
        "shown once only: {settings}"
    );
    secret
}

#[actix_web::test]
async fn threshold_webhooks_are_signed_with_the_tenant_secret_and_carry_the_budget() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let agent = TestAgent::start().await;
    http_agent(&app, "priced", &agent.url("/priced")).await; // $0.50 a run
    let receiver = Receiver::start(0).await;
    let secret = configure_webhook(&app, &receiver).await;
    create_env(&app, "acme").await;
    let budget = json!({
        "limitUsd": 2, "period": "month", "thresholds": [50, 100], "enforce": true
    });
    set_budget(&app, &budget_path("acme"), &budget).await;

    run_ok(&app, "priced", "acme", 2).await;
    let first = receiver.wait_for(1).await;
    run_ok(&app, "priced", "acme", 2).await;
    let hooks = receiver.wait_for(2).await;
    assert_eq!(hooks[0].body, first[0].body);

    for hook in &hooks {
        assert!(
            signed_by(&secret, &hook.body, &hook.signature),
            "the signature {:?} does not verify over {}",
            hook.signature,
            String::from_utf8_lossy(&hook.body)
        );
        assert!(!signed_by("whsec_wrong", &hook.body, &hook.signature));
        assert!(
            hook.content_type.starts_with("application/json"),
            "{hook:?}"
        );
    }
    for (hook, (threshold, runs)) in hooks.iter().zip([(50, 2), (100, 4)]) {
        let p = hook.json();
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        for key in [
            "type",
            "tenant",
            "environment",
            "agent",
            "period",
            "periodStart",
            "resetsAt",
            "spentUsd",
            "limitUsd",
            "executions",
            "limitExecutions",
            "percent",
            "threshold",
            "enforce",
        ] {
            assert!(keys.contains(&key), "{key} missing: {p}");
        }
        assert_eq!(p["type"], "budget.threshold", "{p}");
        assert_eq!(p["tenant"], "demo", "{p}");
        assert_eq!(p["environment"], "acme", "{p}");
        assert_eq!(p["agent"], Value::Null, "{p}");
        assert_eq!(p["period"], "month", "{p}");
        assert_eq!(p["periodStart"], "2026-03-01T00:00:00.000Z", "{p}");
        assert_eq!(p["resetsAt"], "2026-04-01T00:00:00.000Z", "{p}");
        assert_eq!(micros(&p["spentUsd"]), runs * 500_000, "{p}");
        assert_eq!(micros(&p["limitUsd"]), 2_000_000, "{p}");
        assert_eq!(p["executions"], runs, "{p}");
        assert_eq!(p["limitExecutions"], Value::Null, "{p}");
        assert_eq!(p["percent"].as_f64(), Some(threshold as f64), "{p}");
        assert_eq!(p["threshold"], threshold, "{p}");
        assert_eq!(p["enforce"], true, "{p}");
    }

    // Refused runs raise no more alerts; the deliveries are recorded as sent, once each.
    run(&app, "priced", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    let rows = eventually(
        "the webhooks to be marked sent",
        Duration::from_secs(5),
        || {
            let rows = webhook_rows(&app);
            (rows.len() == 2 && rows.iter().all(|r| r.status == "sent")).then_some(rows)
        },
    )
    .await;
    assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    // Each threshold is an e-mail notification too.
    assert_eq!(alerted(&app).await, vec![50, 100]);
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 2, "no duplicate deliveries");

    // A rotated secret signs what follows, and the old one no longer verifies.
    let rotated = app
        .post(&format!("{SETTINGS}:rotateWebhookSecret"), &json!({}))
        .await;
    let new_secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    create_env(&app, "beta").await;
    let one = json!({"limitExecutions": 1, "period": "day", "thresholds": [100]});
    set_budget(&app, &format!("{}?agent=priced", budget_path("beta")), &one).await;
    run_ok(&app, "priced", "beta", 1).await;
    let hooks = receiver.wait_for(3).await;
    let third = &hooks[2];
    assert!(
        signed_by(&new_secret, &third.body, &third.signature),
        "{third:?}"
    );
    assert!(
        !signed_by(&secret, &third.body, &third.signature),
        "{third:?}"
    );
    let p = third.json();
    assert_eq!(p["environment"], "beta", "{p}");
    assert_eq!(p["agent"], "priced", "{p}");
    assert_eq!(p["limitExecutions"], 1, "{p}");
    assert_eq!(p["limitUsd"], Value::Null, "{p}");
    assert_eq!(p["period"], "day", "{p}");
    assert_eq!(p["enforce"], false, "{p}");
}

#[actix_web::test]
async fn an_alert_for_a_webhook_without_a_secret_waits_for_the_secret_then_goes_out() {
    let clock = ManualClock::at(NOON);
    let app = spawn_app_with_clock(&clock).await;
    let receiver = Receiver::start(0).await;
    settings(&app, &json!({"alertWebhookUrl": receiver.url})).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 1, "period": "day", "thresholds": [100]});
    set_budget(&app, &budget_path("acme"), &budget).await;
    run_ok(&app, "support-bot", "acme", 1).await;

    let rows = eventually("the unsigned attempt", Duration::from_secs(5), || {
        let rows = webhook_rows(&app);
        (rows.len() == 1 && rows[0].attempts == 1).then_some(rows)
    })
    .await;
    assert_eq!(rows[0].status, "pending", "kept for later: {rows:?}");
    let why = rows[0].last_error.as_deref().unwrap_or("");
    assert!(
        why.contains("rotateWebhookSecret"),
        "says what to do: {rows:?}"
    );
    assert!(receiver.received().is_empty(), "nothing unsigned is sent");

    let rotated = app
        .post(&format!("{SETTINGS}:rotateWebhookSecret"), &json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let secret = rotated.body["secret"].as_str().unwrap().to_string();
    clock.advance(2_000);
    let hooks = receiver.wait_for(1).await;
    assert!(
        signed_by(&secret, &hooks[0].body, &hooks[0].signature),
        "{hooks:?}"
    );
    eventually(
        "the webhook to be marked sent",
        Duration::from_secs(5),
        || (webhook_rows(&app)[0].status == "sent").then_some(()),
    )
    .await;
}

#[actix_web::test]
async fn a_webhook_that_fails_is_retried_with_backoff_until_it_accepts() {
    let clock = ManualClock::at(NOON);
    let app = spawn_app_with_clock(&clock).await;
    let receiver = Receiver::start(2).await;
    let secret = configure_webhook(&app, &receiver).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 1, "period": "day", "thresholds": [100]});
    set_budget(&app, &budget_path("acme"), &budget).await;
    run_ok(&app, "support-bot", "acme", 1).await;

    // First attempt: HTTP 500, retried 2 s later (by the app's clock).
    receiver.wait_for(1).await;
    let rows = eventually(
        "the failed attempt to be recorded",
        Duration::from_secs(5),
        || {
            let rows = webhook_rows(&app);
            (rows.len() == 1 && rows[0].attempts == 1).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows[0].status, "pending", "{rows:?}");
    let why = rows[0].last_error.as_deref().unwrap_or("");
    assert!(why.contains("500"), "{rows:?}");
    clock.advance(1_900);
    actix_web::rt::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "not retried before the backoff"
    );

    // Second attempt after 2 s fails too; the third waits 4 s.
    clock.advance(100);
    receiver.wait_for(2).await;
    eventually(
        "the second attempt to be recorded",
        Duration::from_secs(5),
        || (webhook_rows(&app)[0].attempts == 2).then_some(()),
    )
    .await;
    clock.advance(2_000);
    actix_web::rt::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "the second backoff is 4 s, not 2 s"
    );
    clock.advance(2_000);
    let hooks = receiver.wait_for(3).await;

    let rows = eventually(
        "the webhook to be marked sent",
        Duration::from_secs(5),
        || {
            let rows = webhook_rows(&app);
            (rows[0].status == "sent").then_some(rows)
        },
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].attempts, 3, "{rows:?}");
    for hook in &hooks {
        assert_eq!(
            hook.body, hooks[0].body,
            "every attempt sends the same body"
        );
        assert!(signed_by(&secret, &hook.body, &hook.signature), "{hook:?}");
    }
    let listed = get_ok(&app, "/v1/tenants/demo/notifications").await;
    let webhook = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == rows[0].id.as_str())
        .unwrap_or_else(|| panic!("the webhook is listed: {listed}"));
    assert_eq!(webhook["kind"], "budget_threshold", "{webhook}");
    assert_eq!(webhook["status"], "sent", "{webhook}");
    assert_eq!(webhook["attempts"], 3, "{webhook}");
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 3, "nothing more once accepted");
}

#[actix_web::test]
async fn an_https_webhook_is_sent_over_tls() {
    // A loopback listener that keeps the first bytes each connection sends: a TLS client opens
    // with a handshake record (0x16, then version 3.x). It holds no certificate, so the
    // handshake fails and the attempt is recorded for a retry.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = first_bytes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            let Ok(mut stream) = stream else { break };
            let mut head = [0_u8; 3];
            if std::io::Read::read_exact(&mut stream, &mut head).is_ok() {
                seen.lock().unwrap().push(head.to_vec());
            }
        }
    });
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let url = format!("https://127.0.0.1:{port}/hooks/fruxon");
    settings(&app, &json!({"alertWebhookUrl": url})).await;
    let rotated = app
        .post(&format!("{SETTINGS}:rotateWebhookSecret"), &json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 1, "period": "day", "thresholds": [100]});
    set_budget(&app, &budget_path("acme"), &budget).await;
    run_ok(&app, "support-bot", "acme", 1).await;

    let rows = eventually(
        "the TLS attempt to be recorded",
        Duration::from_secs(10),
        || {
            let rows = webhook_rows(&app);
            (rows.len() == 1 && rows[0].attempts >= 1).then_some(rows)
        },
    )
    .await;
    let heads = first_bytes.lock().unwrap().clone();
    assert!(!heads.is_empty(), "fruxon connected to the https webhook");
    assert_eq!(heads[0][0], 0x16, "a TLS handshake record: {heads:?}");
    assert_eq!(heads[0][1], 0x03, "a TLS version: {heads:?}");
    assert_eq!(rows[0].status, "pending", "{rows:?}");
    let why = rows[0].last_error.as_deref().unwrap_or("");
    assert!(
        !why.to_lowercase().contains("not supported") && !why.contains(&port.to_string()),
        "a handshake failure, and the URL (which may hold a token) is not repeated: {why}"
    );
}

#[actix_web::test]
async fn alert_webhook_urls_must_be_http_and_null_turns_them_off() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let receiver = Receiver::start(0).await;
    configure_webhook(&app, &receiver).await;
    for bad in [
        json!("ftp://example.com/hook"),
        json!("example.com/hook"),
        json!("http://"),
        json!(""),
        json!(42),
    ] {
        let reply = put(&app, SETTINGS, &json!({"alertWebhookUrl": bad})).await;
        reply.assert_refused(400, "INVALID_ARGUMENT", &bad.to_string());
        assert_eq!(
            reply.metadata()["field"],
            "alertWebhookUrl",
            "{}",
            reply.text
        );
    }
    assert_eq!(
        get_ok(&app, SETTINGS).await["alertWebhookUrl"],
        receiver.url
    );

    let off = settings(&app, &json!({"alertWebhookUrl": null})).await;
    assert_eq!(off["alertWebhookUrl"], Value::Null, "{off}");
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 1, "period": "day", "thresholds": [100]});
    set_budget(&app, &budget_path("acme"), &budget).await;
    run_ok(&app, "support-bot", "acme", 1).await;
    assert_eq!(
        alerted(&app).await,
        vec![100],
        "the e-mail alert still happens"
    );
    assert!(webhook_rows(&app).is_empty(), "no webhook without a URL");
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    assert!(receiver.received().is_empty());
}

#[actix_web::test]
async fn twenty_concurrent_runs_crossing_the_thresholds_raise_each_alert_once_and_all_count() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let receiver = Receiver::start(0).await;
    configure_webhook(&app, &receiver).await;
    create_env(&app, "acme").await;
    let budget = json!({"limitExecutions": 20, "period": "day", "enforce": true});
    set_budget(&app, &budget_path("acme"), &budget).await;

    let body = json!({"parameters": {"q": "hi"}, "environmentSlug": "acme"});
    let path = "/v1/tenants/demo/agents/support-bot:execute";
    let runs: Vec<_> = (0..20)
        .map(|_| app.spawn_post(Some(&app.admin_key), path, &body))
        .collect();
    for handle in runs {
        let reply = handle.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    let now = status(&app, "acme").await;
    assert_eq!(now["executions"], 20, "{now}");
    assert_eq!(now["firedThresholds"], json!([50, 80, 100]), "{now}");
    assert_eq!(
        alerted(&app).await,
        vec![50, 80, 100],
        "one e-mail alert per threshold"
    );
    let hooks = receiver.wait_for(3).await;
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "one webhook per threshold: {hooks:?}"
    );
    let mut fired: Vec<i64> = hooks
        .iter()
        .map(|h| h.json()["threshold"].as_i64().unwrap())
        .collect();
    fired.sort_unstable();
    assert_eq!(fired, vec![50, 80, 100]);

    // All 20 were admitted (20 of 20), and the 21st is refused.
    run(&app, "support-bot", Some("acme"))
        .await
        .assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
}

#[actix_web::test]
async fn a_budget_for_one_agent_neither_counts_nor_blocks_the_other_agents() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    let created = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "billing-bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    create_env(&app, "shared").await;
    let scoped = format!("{}?agent=support-bot", budget_path("shared"));
    let scoped_status = format!("{}?agent=support-bot", status_path("shared"));
    let budget = json!({"limitExecutions": 2, "period": "day", "enforce": true});
    let echoed = set_budget(&app, &scoped, &budget).await;
    assert_eq!(echoed["agent"], "support-bot", "{echoed}");
    assert_eq!(get_ok(&app, &scoped).await, echoed);
    app.get(&budget_path("shared"))
        .await
        .assert_error(404, "NOT_FOUND");

    run_ok(&app, "billing-bot", "shared", 3).await;
    let s = get_ok(&app, &scoped_status).await;
    assert_eq!(s["executions"], 0, "another agent's runs do not count: {s}");
    assert_eq!(s["agent"], "support-bot", "{s}");

    run_ok(&app, "support-bot", "shared", 2).await;
    let refused = run(&app, "support-bot", Some("shared")).await;
    refused.assert_error(429, "ENVIRONMENT_BUDGET_EXCEEDED");
    assert_eq!(
        refused.metadata()["agent"],
        "support-bot",
        "{}",
        refused.text
    );
    assert!(
        refused.message().contains("support-bot"),
        "{}",
        refused.text
    );
    run_ok(&app, "billing-bot", "shared", 2).await;
    assert_eq!(get_ok(&app, &scoped_status).await["executions"], 2);
    assert_eq!(alerted(&app).await, vec![50, 80, 100]);

    // An environment-wide budget beside it counts every agent, from what was already run.
    let wide = json!({"limitExecutions": 100, "period": "day"});
    set_budget(&app, &budget_path("shared"), &wide).await;
    assert_eq!(status(&app, "shared").await["executions"], 7);
    run_ok(&app, "billing-bot", "shared", 1).await;
    assert_eq!(status(&app, "shared").await["executions"], 8);
    assert_eq!(get_ok(&app, &scoped_status).await["executions"], 2);
    let list = get_ok(&app, "/v1/tenants/demo/budgets").await;
    let agents: Vec<&Value> = list["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["agent"])
        .collect();
    assert_eq!(agents, vec![&Value::Null, &json!("support-bot")], "{list}");

    // Deleting the agent's budget leaves the environment's.
    assert_eq!(app.delete(&scoped).await.status, 204);
    run_ok(&app, "support-bot", "shared", 1).await;
    assert_eq!(status(&app, "shared").await["executions"], 9);
}

#[actix_web::test]
async fn deleting_an_environment_removes_its_budget_and_a_recreated_one_gets_the_default() {
    let app = spawn_app_with_clock(&ManualClock::at(NOON)).await;
    create_env(&app, "acme").await;
    let own = json!({"limitExecutions": 1, "period": "day", "enforce": true});
    set_budget(&app, &budget_path("acme"), &own).await;
    set_budget(
        &app,
        &format!("{}?agent=support-bot", budget_path("acme")),
        &own,
    )
    .await;
    run_ok(&app, "support-bot", "acme", 1).await;

    let deleted = app.delete(&format!("{ENVS}/acme")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    app.get(&budget_path("acme"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&status_path("acme"))
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(app.count("SELECT count(*) FROM budgets"), 0);
    let list = get_ok(&app, "/v1/tenants/demo/budgets").await;
    assert_eq!(list["budgets"], json!([]), "{list}");

    // Re-created by a run, it gets the default budget, not its old one (which would refuse).
    let default = json!({"limitExecutions": 50, "period": "month", "thresholds": [90]});
    settings(&app, &json!({"defaultBudget": default})).await;
    run_ok(&app, "support-bot", "acme", 2).await;
    let budget = get_ok(&app, &budget_path("acme")).await;
    assert_eq!(budget["limitExecutions"], 50, "{budget}");
    assert_eq!(budget["period"], "month", "{budget}");
    assert_eq!(budget["thresholds"], json!([90]), "{budget}");
    assert_eq!(budget["enforce"], false, "{budget}");
    app.get(&format!("{}?agent=support-bot", budget_path("acme")))
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(app.count("SELECT count(*) FROM budgets"), 1);
}
