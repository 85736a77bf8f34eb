//! `environments:diagnostics`: what fills a registry, and whether an integration leaks request
//! ids, trace ids or timestamps into environment slugs.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{ManualClock, TestApp, spawn_app, spawn_app_with_clock};

const DIAGNOSTICS: &str = "/v1/tenants/demo/environments:diagnostics";
const EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";

/// A random UUID v4 with '_' where the dashes were, as a slug can hold it.
fn uuid_slug() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "req_{}_{}_{}_{}_{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Executes each slug `times` times, all at once.
async fn execute_all(app: &TestApp, slugs: &[String], times: usize) {
    let mut handles = Vec::new();
    for slug in slugs {
        for _ in 0..times {
            let body = json!({"parameters": {}, "environmentSlug": slug});
            handles.push(app.spawn_post(Some(&app.admin_key), EXECUTE, &body));
        }
    }
    for handle in handles {
        handle.await.unwrap().execution_id();
    }
}

async fn diagnose(app: &TestApp) -> Value {
    let reply = app.get(DIAGNOSTICS).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

/// The flagged slugs, checking that each says why.
#[track_caller]
fn flagged(diagnosis: &Value) -> BTreeSet<String> {
    let mut slugs = BTreeSet::new();
    for s in diagnosis["suspiciousSlugs"]
        .as_array()
        .unwrap_or_else(|| panic!("no suspiciousSlugs: {diagnosis}"))
    {
        let slug = s["slug"].as_str().unwrap().to_string();
        let why = s["why"].as_str().unwrap_or_default();
        assert!(
            why.trim().len() >= 10,
            "{slug} is flagged without a reason: {s}"
        );
        assert!(slugs.insert(slug), "flagged twice: {diagnosis}");
    }
    slugs
}

/// Asserts `likelyCause` is one plain sentence.
#[track_caller]
fn assert_one_sentence(diagnosis: &Value) {
    let cause = diagnosis["likelyCause"]
        .as_str()
        .unwrap_or_else(|| panic!("the pattern is clear, so a cause is named: {diagnosis}"));
    assert!(!cause.contains('\n'), "one sentence: {cause:?}");
    assert!(
        cause.split_whitespace().count() >= 6,
        "a sentence, not a label: {cause:?}"
    );
}

fn strings(slugs: &[&str]) -> Vec<String> {
    slugs.iter().map(|s| s.to_string()).collect()
}

#[actix_web::test]
async fn a_uuid_per_request_integration_is_flagged_with_a_likely_cause() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "100"]);
    let ordinary = strings(&["acme_corp", "globex", "customer_123"]);
    execute_all(&app, &ordinary, 3).await;
    let leaked: Vec<String> = (0..30).map(|_| uuid_slug()).collect();
    execute_all(&app, &leaked, 1).await;

    let diagnosis = diagnose(&app).await;

    assert_eq!(diagnosis["count"], 33, "{diagnosis}");
    assert_eq!(diagnosis["cap"], 100, "{diagnosis}");
    assert_eq!(diagnosis["createdLast24h"], 33, "{diagnosis}");
    let expected: BTreeSet<String> = leaked.iter().cloned().collect();
    assert_eq!(
        flagged(&diagnosis),
        expected,
        "exactly the request ids are flagged"
    );
    assert_one_sentence(&diagnosis);
    let recent = diagnosis["recentSlugs"].as_array().unwrap();
    assert!(!recent.is_empty(), "{diagnosis}");
    for entry in recent {
        let slug = entry["slug"].as_str().unwrap();
        assert!(
            expected.contains(slug) || ordinary.iter().any(|o| o == slug),
            "{entry}"
        );
        chrono::DateTime::parse_from_rfc3339(entry["createdAt"].as_str().unwrap()).unwrap();
    }
}

#[actix_web::test]
async fn ordinary_customer_slugs_are_not_flagged() {
    let app = spawn_app().await;
    let ordinary = strings(&[
        "acme_corp",
        "globex",
        "customer_123",
        "initech",
        "umbrella_eu",
        "stark_industries_2",
        "hooli_2024",
    ]);
    execute_all(&app, &ordinary, 2).await;
    app.post(
        "/v1/tenants/demo/environments",
        &json!({"slug": "wayne_enterprises"}),
    )
    .await;

    let diagnosis = diagnose(&app).await;

    assert_eq!(diagnosis["count"], 8, "{diagnosis}");
    assert_eq!(diagnosis["suspiciousSlugs"], json!([]), "{diagnosis}");
    assert!(
        diagnosis.get("likelyCause").is_some_and(Value::is_null),
        "no cause without a pattern: {diagnosis}"
    );

    // The three the issue names, and nothing else.
    let app = spawn_app().await;
    execute_all(&app, &strings(&["acme_corp", "globex", "customer_123"]), 1).await;
    let diagnosis = diagnose(&app).await;
    assert_eq!(diagnosis["suspiciousSlugs"], json!([]), "{diagnosis}");
    assert!(diagnosis["likelyCause"].is_null(), "{diagnosis}");
}

#[actix_web::test]
async fn a_timestamp_per_request_integration_is_flagged() {
    let app = spawn_app().await;
    execute_all(&app, &strings(&["acme_corp", "globex"]), 2).await;
    let leaked: Vec<String> = (0..12)
        .map(|i| format!("evt_{}", 1_764_789_000 + i * 37))
        .collect();
    execute_all(&app, &leaked, 1).await;
    let millis: Vec<String> = (0..3)
        .map(|i| format!("batch_{}", 1_764_789_000_123u64 + i))
        .collect();
    execute_all(&app, &millis, 1).await;

    let diagnosis = diagnose(&app).await;

    let expected: BTreeSet<String> = leaked.iter().chain(&millis).cloned().collect();
    assert_eq!(flagged(&diagnosis), expected, "{diagnosis}");
    assert_one_sentence(&diagnosis);
}

#[actix_web::test]
async fn a_burst_of_single_use_slugs_is_flagged_but_reused_ones_are_not() {
    let app = spawn_app().await;
    let reused: Vec<String> = (1..=12).map(|i| format!("customer_{i}")).collect();
    execute_all(&app, &reused, 3).await;
    let once: Vec<String> = (1..=12).map(|i| format!("order_{i}")).collect();
    execute_all(&app, &once, 1).await;

    let diagnosis = diagnose(&app).await;

    let expected: BTreeSet<String> = once.iter().cloned().collect();
    assert_eq!(
        flagged(&diagnosis),
        expected,
        "only the slugs each used once are a leak: {diagnosis}"
    );
    assert_one_sentence(&diagnosis);
}

#[actix_web::test]
async fn recent_slugs_are_newest_first_and_only_the_last_24_hours_are_counted() {
    let clock = ManualClock::at("2026-03-01T00:00:00Z");
    let app = spawn_app_with_clock(&clock).await;
    // (when, slug, created by an execution or by hand)
    let timeline = [
        ("2026-03-01T00:00:00Z", "old_one", true),
        ("2026-03-01T00:00:01Z", "old_two", false),
        ("2026-03-01T11:59:59Z", "just_outside", true),
        ("2026-03-01T12:00:01Z", "just_inside", false),
        ("2026-03-02T06:00:00Z", "fresh_one", true),
        ("2026-03-02T06:00:01Z", "fresh_two", false),
        ("2026-03-02T06:00:01.500Z", "fresh_three", true),
    ];
    for (at, slug, executed) in timeline {
        clock.set(at);
        if executed {
            app.execute_in(slug).await.execution_id();
        } else {
            let reply = app
                .post("/v1/tenants/demo/environments", &json!({"slug": slug}))
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    }
    // Runs in old environments later on are not creations.
    clock.set("2026-03-02T11:00:00Z");
    app.execute_in("old_one").await.execution_id();
    clock.set("2026-03-02T12:00:00Z");

    let diagnosis = diagnose(&app).await;

    assert_eq!(diagnosis["count"], 7, "{diagnosis}");
    assert_eq!(diagnosis["createdLast24h"], 4, "{diagnosis}");
    let newest_first: Vec<Value> = timeline
        .iter()
        .rev()
        .map(|(at, slug, _)| json!({"slug": slug, "createdAt": rfc_millis(at)}))
        .collect();
    let recent = diagnosis["recentSlugs"].as_array().unwrap();
    assert!(!recent.is_empty(), "{diagnosis}");
    assert_eq!(
        recent[..],
        newest_first[..recent.len()],
        "the newest creations, newest first"
    );
    assert!(flagged(&diagnosis).is_empty(), "{diagnosis}");

    let deleted = app
        .delete("/v1/tenants/demo/environments/fresh_three")
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let after = diagnose(&app).await;
    assert_eq!(after["count"], 6, "{after}");
    assert_eq!(after["createdLast24h"], 3, "{after}");
    assert_eq!(after["recentSlugs"][0]["slug"], "fresh_two", "{after}");

    clock.set("2026-03-04T00:00:00Z");
    let later = diagnose(&app).await;
    assert_eq!(later["createdLast24h"], 0, "{later}");
    assert_eq!(later["count"], 6, "{later}");
}

/// An RFC 3339 time as the API writes it: UTC with milliseconds.
fn rfc_millis(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[actix_web::test]
async fn an_empty_registry_has_nothing_to_diagnose() {
    let app = spawn_app().await;
    app.execute(&json!({"parameters": {}})).await.execution_id();

    let diagnosis = diagnose(&app).await;

    assert_eq!(
        diagnosis,
        json!({"count": 0, "cap": 1000, "createdLast24h": 0, "recentSlugs": [],
               "suspiciousSlugs": [], "likelyCause": null}),
        "untagged runs register nothing"
    );
}
