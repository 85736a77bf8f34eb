//! The per-customer cost split: one agent's executions, exact cost and last activity per
//! environment, over all time or a window, summed from what the execute replies said.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{
    ManualClock, TestAgent, TestApp, micros, ms, query, spawn_app, spawn_app_with_clock,
};

const AGENT: &str = "mix-bot";
const SUMMARY: &str = "/v1/tenants/demo/agents/mix-bot/environments:summary";

/// Query parameters, in order.
type Pairs<'a> = &'a [(&'a str, &'a str)];

/// How one revision of `mix-bot` runs.
#[derive(Clone, Copy, Debug)]
enum Rev {
    /// `/ok` priced at $3/$15 per million tokens: $0.033.
    Usage = 1,
    /// `/ok` at odd prices that need rounding to the micro-dollar: $0.002593.
    OddPrices = 2,
    /// `/priced`: the agent reports `costUsd` 0.5 itself.
    AgentCost = 3,
    /// `/fail`: HTTP 500, recorded as failed.
    Fails = 4,
}

/// Creates `mix-bot` with one revision per `Rev`.
async fn mix_agent(app: &TestApp, agent: &TestAgent) {
    app.create_http_agent(AGENT, &agent.url("/ok"), 5_000).await;
    let revisions = [
        (
            agent.url("/ok"),
            json!({"inputPerMillionUsd": 0.123457, "outputPerMillionUsd": 1.234567}),
        ),
        (
            agent.url("/priced"),
            json!({"inputPerMillionUsd": 3, "outputPerMillionUsd": 15}),
        ),
        (
            agent.url("/fail"),
            json!({"inputPerMillionUsd": 3, "outputPerMillionUsd": 15}),
        ),
    ];
    for (n, (url, pricing)) in revisions.into_iter().enumerate() {
        let reply = app
            .post(
                &format!("/v1/tenants/demo/agents/{AGENT}/revisions"),
                &json!({"runtime": {"kind": "http", "url": url, "timeoutMs": 5000},
                        "pricing": pricing}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.body["revision"], n + 2, "{}", reply.text);
    }
}

/// One execution as its reply (or, for a failed run, its record) described it.
#[derive(Clone, Debug)]
struct Run {
    slug: Option<String>,
    cost_micros: i64,
    started_ms: i64,
    finished_at: String,
}

/// Runs `rev` of `mix-bot` tagged with `slug` and returns what the reply said it cost.
async fn run(app: &TestApp, rev: Rev, slug: Option<&str>) -> Run {
    let mut body = json!({"parameters": {"q": "split me"}});
    if let Some(slug) = slug {
        body["environmentSlug"] = json!(slug);
    }
    let path = format!(
        "/v1/tenants/demo/agents/{AGENT}/revisions/{}:execute",
        rev as i32
    );
    let reply = app.post(&path, &body).await;
    let record = match rev {
        Rev::Fails => {
            reply.assert_error(502, "AGENT_FAILED");
            let id = reply.metadata()["executionId"]
                .as_str()
                .unwrap()
                .to_string();
            let record = app.get(&format!("/v1/tenants/demo/executions/{id}")).await;
            assert_eq!(record.status, 200, "{}", record.text);
            assert_eq!(record.body["status"], "failed", "{}", record.text);
            record.body
        }
        _ => {
            assert_eq!(reply.status, 200, "{rev:?}: {}", reply.text);
            reply.body
        }
    };
    let expected = match rev {
        Rev::Usage => Some(33_000),
        Rev::OddPrices => Some(2_593),
        Rev::AgentCost => Some(500_000),
        Rev::Fails => None,
    };
    if let Some(expected) = expected {
        assert_eq!(micros(&record["costUsd"]), expected, "{rev:?}: {record}");
    }
    Run {
        slug: slug.map(str::to_string),
        cost_micros: micros(&record["costUsd"]),
        started_ms: ms(record["startedAt"].as_str().unwrap()),
        finished_at: record["finishedAt"].as_str().unwrap().to_string(),
    }
}

/// (executions, micro-dollars, last finishedAt) per slug, `None` for untagged runs.
type Expected = BTreeMap<Option<String>, (i64, i64, String)>;

fn expected<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Expected {
    let mut by_slug = Expected::new();
    for r in runs {
        let entry = by_slug
            .entry(r.slug.clone())
            .or_insert((0, 0, String::new()));
        entry.0 += 1;
        entry.1 += r.cost_micros;
        entry.2 = entry.2.clone().max(r.finished_at.clone());
    }
    by_slug
}

/// The summary's rows in the same shape, refusing duplicate rows for one slug.
#[track_caller]
fn rows(summary: &Value) -> Expected {
    let mut by_slug = Expected::new();
    for row in summary["environments"]
        .as_array()
        .unwrap_or_else(|| panic!("no environments: {summary}"))
    {
        let slug = match &row["environmentSlug"] {
            Value::Null => {
                assert!(
                    row.get("environmentSlug").is_some(),
                    "the untagged row names its slug as null: {row}"
                );
                None
            }
            Value::String(s) => Some(s.clone()),
            other => panic!("environmentSlug {other} is neither a string nor null"),
        };
        let last = row["lastActivityAt"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let value = (
            row["executionCount"].as_i64().unwrap(),
            micros(&row["totalCostUsd"]),
            last,
        );
        assert!(
            by_slug.insert(slug.clone(), value).is_none(),
            "{slug:?} has two rows: {summary}"
        );
    }
    by_slug
}

/// Asserts the totals add up the expected rows.
#[track_caller]
fn assert_totals(summary: &Value, expected: &Expected, why: &str) {
    let totals = &summary["totals"];
    let count: i64 = expected.values().map(|v| v.0).sum();
    let cost: i64 = expected.values().map(|v| v.1).sum();
    assert_eq!(totals["executionCount"], count, "{why}: {summary}");
    assert_eq!(micros(&totals["totalCostUsd"]), cost, "{why}: {summary}");
    match expected.values().map(|v| v.2.clone()).max() {
        Some(last) => assert_eq!(totals["lastActivityAt"], last.as_str(), "{why}: {summary}"),
        None => assert!(totals["lastActivityAt"].is_null(), "{why}: {summary}"),
    }
}

#[actix_web::test]
async fn the_summary_splits_cost_per_environment_to_the_micro_dollar() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    mix_agent(&app, &agent).await;
    let plan: &[(Rev, Option<&str>, usize)] = &[
        (Rev::Usage, Some("acme_corp"), 3),
        (Rev::OddPrices, Some("acme_corp"), 2),
        (Rev::AgentCost, Some("acme_corp"), 1),
        (Rev::Fails, Some("acme_corp"), 1),
        (Rev::OddPrices, Some("globex"), 7),
        (Rev::AgentCost, Some("globex"), 2),
        (Rev::Usage, None, 2),
        (Rev::AgentCost, None, 1),
        (Rev::Fails, None, 1),
        (Rev::Fails, Some("initech"), 2),
        (Rev::Usage, Some("acme_corp"), 1),
    ];
    let mut runs = Vec::new();
    for (rev, slug, times) in plan {
        for _ in 0..*times {
            runs.push(run(&app, *rev, *slug).await);
        }
    }
    // Runs of another agent in the same environments stay out of mix-bot's split.
    app.execute_in("acme_corp").await.execution_id();
    app.execute_in("hooli").await.execution_id();
    app.execute(&json!({"parameters": {}})).await.execution_id();

    let summary = app.get(SUMMARY).await;

    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(summary.body["agent"], AGENT);
    let want = expected(&runs);
    assert_eq!(rows(&summary.body), want, "{}", summary.text);
    assert_eq!(
        want[&Some("acme_corp".to_string())].1,
        3 * 33_000 + 2 * 2_593 + 500_000 + 33_000
    );
    assert_eq!(want[&Some("globex".to_string())].1, 7 * 2_593 + 2 * 500_000);
    assert_eq!(want[&None].0, 4, "the failed untagged run is counted");
    assert_eq!(
        want[&Some("initech".to_string())].0,
        2,
        "failed runs are counted"
    );
    assert_totals(&summary.body, &want, "all time");
    assert_eq!(summary.body["totals"]["executionCount"], runs.len());
}

#[actix_web::test]
async fn the_summary_counts_deleted_environments_and_an_unused_agent_is_empty() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    mix_agent(&app, &agent).await;
    let idle = app.get(SUMMARY).await;
    assert_eq!(idle.status, 200, "{}", idle.text);
    assert_eq!(idle.body["environments"], json!([]));
    assert_totals(&idle.body, &Expected::new(), "no runs yet");

    let runs = vec![
        run(&app, Rev::Usage, Some("gone_soon")).await,
        run(&app, Rev::AgentCost, Some("gone_soon")).await,
    ];
    let deleted = app.delete("/v1/tenants/demo/environments/gone_soon").await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    let summary = app.get(SUMMARY).await;
    assert_eq!(rows(&summary.body), expected(&runs), "{}", summary.text);
    assert_totals(&summary.body, &expected(&runs), "after the delete");
}

#[actix_web::test]
async fn a_window_sums_exactly_the_executions_that_started_inside_it() {
    let clock = ManualClock::at("2026-03-01T10:00:00Z");
    let app = spawn_app_with_clock(&clock).await;
    let agent = TestAgent::start().await;
    mix_agent(&app, &agent).await;
    // (time, revision, slug): runs over five days, on and next to midnights.
    let plan: &[(&str, Rev, Option<&str>)] = &[
        ("2026-03-01T10:00:00Z", Rev::Usage, Some("acme_corp")),
        ("2026-03-01T10:00:00Z", Rev::AgentCost, None),
        ("2026-03-01T12:30:00Z", Rev::OddPrices, Some("globex")),
        ("2026-03-01T23:59:59.999Z", Rev::Usage, Some("acme_corp")),
        ("2026-03-02T00:00:00Z", Rev::AgentCost, Some("acme_corp")),
        ("2026-03-02T00:00:00Z", Rev::Fails, Some("globex")),
        ("2026-03-02T13:00:00Z", Rev::OddPrices, None),
        ("2026-03-04T08:00:00Z", Rev::Usage, Some("initech")),
        (
            "2026-03-04T08:00:00.001Z",
            Rev::OddPrices,
            Some("acme_corp"),
        ),
        ("2026-03-05T00:00:00Z", Rev::AgentCost, Some("globex")),
        ("2026-03-05T23:00:00Z", Rev::Usage, Some("acme_corp")),
    ];
    let mut runs = Vec::new();
    for (at, rev, slug) in plan {
        clock.set(at);
        let r = run(&app, *rev, *slug).await;
        assert_eq!(r.started_ms, ms(at), "the run started on the test's clock");
        runs.push(r);
    }
    let all_time = app.get(SUMMARY).await;
    assert_eq!(all_time.status, 200, "{}", all_time.text);
    assert_eq!(rows(&all_time.body), expected(&runs));
    // (from, to, why)
    let windows: &[(Option<&str>, Option<&str>, &str)] = &[
        (
            Some("2000-01-01T00:00:00Z"),
            Some("2100-01-01T00:00:00Z"),
            "a window around everything is all time",
        ),
        (
            Some("2026-03-01T00:00:00Z"),
            Some("2026-03-06T00:00:00Z"),
            "exactly the five whole days",
        ),
        (
            Some("2026-03-01T12:00:00Z"),
            Some("2026-03-04T08:00:00.001Z"),
            "partial first and last days around whole days",
        ),
        (
            Some("2026-03-01T23:59:59.999Z"),
            Some("2026-03-02T00:00:00Z"),
            "one millisecond before midnight; to is exclusive",
        ),
        (
            Some("2026-03-02T00:00:00Z"),
            Some("2026-03-02T00:00:00.001Z"),
            "the first millisecond of a day; from is inclusive",
        ),
        (
            Some("2026-03-01T23:00:00-01:00"),
            Some("2026-03-02T14:00:00+01:00"),
            "offsets other than Z",
        ),
        (
            Some("2026-03-01T11:00:00Z"),
            Some("2026-03-01T13:00:00Z"),
            "inside one day",
        ),
        (
            Some("2026-03-03T00:00:00Z"),
            Some("2026-03-04T00:00:00Z"),
            "a day without runs",
        ),
        (Some("2026-03-04T00:00:00Z"), None, "from alone"),
        (None, Some("2026-03-02T00:00:00Z"), "to alone"),
        (
            Some("2026-03-02T00:00:00Z"),
            Some("2026-03-02T00:00:00Z"),
            "an empty window",
        ),
        (
            Some("2100-01-01T00:00:00Z"),
            Some("2100-02-01T00:00:00Z"),
            "a window in the future",
        ),
    ];

    for (from, to, why) in windows {
        let mut pairs = Vec::new();
        if let Some(from) = from {
            pairs.push(("from", *from));
        }
        if let Some(to) = to {
            pairs.push(("to", *to));
        }
        let (low, high) = (from.map_or(i64::MIN, ms), to.map_or(i64::MAX, ms));
        let inside = runs.iter().filter(|r| (low..high).contains(&r.started_ms));
        let want = expected(inside);

        let reply = app.get(&format!("{SUMMARY}?{}", query(&pairs))).await;

        assert_eq!(reply.status, 200, "{why}: {}", reply.text);
        assert_eq!(reply.body["agent"], AGENT, "{why}");
        assert_eq!(rows(&reply.body), want, "{why}: {}", reply.text);
        assert_totals(&reply.body, &want, why);
    }

    let everything = format!(
        "{SUMMARY}?{}",
        query(&[
            ("from", "2000-01-01T00:00:00Z"),
            ("to", "2100-01-01T00:00:00Z")
        ])
    );
    let windowed = app.get(&everything).await.body;
    assert_eq!(windowed["totals"], all_time.body["totals"]);
    assert_eq!(rows(&windowed), rows(&all_time.body));
}

#[actix_web::test]
async fn bad_windows_and_unknown_agents_are_refused() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    mix_agent(&app, &agent).await;
    // (query, reason, field, why it must fail)
    let cases: &[(Pairs, &str, &str, &str)] = &[
        (
            &[("from", "yesterday")],
            "INVALID_ARGUMENT",
            "from",
            "not a time",
        ),
        (&[("to", "soon")], "INVALID_ARGUMENT", "to", "not a time"),
        (
            &[("from", "2026-13-01T00:00:00Z")],
            "INVALID_ARGUMENT",
            "from",
            "there is no thirteenth month",
        ),
        (
            &[("from", "2026-03-01")],
            "INVALID_ARGUMENT",
            "from",
            "a date without a time is not RFC 3339",
        ),
        (
            &[("from", "2026-03-01T10:00:00")],
            "INVALID_ARGUMENT",
            "from",
            "a time without an offset is ambiguous",
        ),
        (
            &[("from", "1772359200000")],
            "INVALID_ARGUMENT",
            "from",
            "epoch milliseconds are not RFC 3339",
        ),
        (
            &[("from", "2026-03-01T10:00:00Z"), ("to", "bad")],
            "INVALID_ARGUMENT",
            "to",
            "a good from does not excuse a bad to",
        ),
        (
            &[("start", "2026-03-01T00:00:00Z")],
            "UNKNOWN_FIELD",
            "start",
            "the window is from/to",
        ),
        (
            &[("environment", "acme_corp")],
            "UNKNOWN_FIELD",
            "environment",
            "the summary is not filtered by environment",
        ),
    ];

    for (pairs, reason, field, why) in cases {
        let reply = app.get(&format!("{SUMMARY}?{}", query(pairs))).await;
        reply.assert_refused(400, reason, why);
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    let backwards = app
        .get(&format!(
            "{SUMMARY}?{}",
            query(&[
                ("from", "2026-03-02T00:00:00Z"),
                ("to", "2026-03-01T00:00:00Z")
            ])
        ))
        .await;
    backwards.assert_error(400, "INVALID_ARGUMENT");
    let field = backwards.metadata()["field"].as_str().unwrap_or_default();
    assert!(
        ["from", "to"].contains(&field),
        "from after to: {}",
        backwards.text
    );

    let unknown = app
        .get("/v1/tenants/demo/agents/no-such-bot/environments:summary")
        .await;
    unknown.assert_error(404, "NOT_FOUND");

    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let created = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents",
            &json!({"id": "private-bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    app.get("/v1/tenants/demo/agents/private-bot/environments:summary")
        .await
        .assert_error(404, "NOT_FOUND");
    let (_, execute_key) = app.create_key("demo", "execute");
    app.send("GET", SUMMARY, Some(&execute_key), None)
        .await
        .assert_error(403, "PERMISSION_DENIED");
    app.send("GET", SUMMARY, Some(&other_key), None)
        .await
        .assert_error(403, "PERMISSION_DENIED");
}
