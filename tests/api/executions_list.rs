//! Reading execution records: a filtered list, newest first, with cursor paging that neither
//! repeats nor skips a row while executions keep landing; and one record by id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::helpers::{Reply, TestAgent, TestApp, ms, query, send_to, spawn_app};

const EXECUTIONS: &str = "/v1/tenants/demo/executions";
const EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";

/// Query parameters, in order.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// An execution as the test made it.
#[derive(Clone, Debug)]
struct Made {
    id: String,
    agent: &'static str,
    slug: Option<&'static str>,
    session: Option<&'static str>,
    status: &'static str,
    started_ms: i64,
}

async fn make(
    app: &TestApp,
    agent: &'static str,
    slug: Option<&'static str>,
    session: Option<&'static str>,
) -> Made {
    let mut body = json!({"parameters": {"n": 1}});
    if let Some(slug) = slug {
        body["environmentSlug"] = json!(slug);
    }
    if let Some(session) = session {
        body["sessionId"] = json!(session);
    }
    let reply = app
        .post(&format!("/v1/tenants/demo/agents/{agent}:execute"), &body)
        .await;
    let (id, status) = if reply.status == 502 {
        reply.assert_error(502, "AGENT_FAILED");
        let id = reply.metadata()["executionId"]
            .as_str()
            .unwrap()
            .to_string();
        (id, "failed")
    } else {
        (reply.execution_id(), "succeeded")
    };
    let record = app.get(&format!("{EXECUTIONS}/{id}")).await;
    assert_eq!(record.status, 200, "{}", record.text);
    Made {
        id,
        agent,
        slug,
        session,
        status,
        started_ms: ms(record.body["startedAt"].as_str().unwrap()),
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("no executions array: {list}"))
        .iter()
        .map(|e| e["executionId"].as_str().unwrap().to_string())
        .collect()
}

/// Every id a filtered list returns, paging `page_size` at a time, checking each page.
async fn list_all(app: &TestApp, filter: &[(&str, &str)], page_size: usize) -> Vec<String> {
    let size = page_size.to_string();
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let mut pairs = filter.to_vec();
        pairs.push(("pageSize", &size));
        if let Some(t) = &token {
            pairs.push(("pageToken", t));
        }
        let reply = app.get(&format!("{EXECUTIONS}?{}", query(&pairs))).await;
        assert_eq!(reply.status, 200, "{filter:?}: {}", reply.text);
        let page = ids(&reply.body);
        assert!(page.len() <= page_size, "{filter:?}: {}", reply.text);
        all.extend(page);
        match reply.body.get("nextPageToken") {
            None => return all,
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
        }
    }
    panic!("paging {filter:?} never ended");
}

#[actix_web::test]
async fn filters_select_exactly_the_matching_executions_newest_first() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("fail-bot", &agent.url("/fail"), 5_000)
        .await;
    let other = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "other-bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let plan: &[(&str, Option<&str>, Option<&str>)] = &[
        ("support-bot", Some("acme_corp"), Some("s1")),
        ("support-bot", Some("globex"), Some("s2")),
        ("support-bot", None, Some("s1")),
        ("other-bot", Some("acme_corp"), None),
        ("fail-bot", Some("acme_corp"), Some("s2")),
        ("support-bot", Some("acme_corp"), Some("s1")),
        ("other-bot", None, None),
        ("fail-bot", None, None),
        ("support-bot", Some("acme_corp_eu"), Some("s1x")),
    ];
    let mut made = Vec::new();
    for (agent, slug, session) in plan {
        made.push(make(&app, agent, *slug, *session).await);
    }
    let window_from = made[2].started_ms;
    let window_to = made[6].started_ms;
    let (from, to) = (rfc(window_from), rfc(window_to));
    type Pick = fn(&Made) -> bool;
    // (query, which of the made executions match, why)
    let cases: Vec<(Pairs, Pick, &str)> = vec![
        (vec![], |_| true, "no filter lists everything"),
        (
            vec![("environment", "acme_corp")],
            |m| m.slug == Some("acme_corp"),
            "one environment, not the one sharing its prefix",
        ),
        (
            vec![("environment", "none")],
            |m| m.slug.is_none(),
            "untagged runs",
        ),
        (
            vec![("environment", "never_used")],
            |_| false,
            "a slug without runs",
        ),
        (
            vec![("agent", "other-bot")],
            |m| m.agent == "other-bot",
            "one agent",
        ),
        (
            vec![("agent", "no-such-bot")],
            |_| false,
            "an agent without runs",
        ),
        (
            vec![("sessionId", "s1")],
            |m| m.session == Some("s1"),
            "one session, not the one sharing its prefix",
        ),
        (
            vec![("status", "failed")],
            |m| m.status == "failed",
            "failed runs",
        ),
        (
            vec![("status", "succeeded")],
            |m| m.status == "succeeded",
            "succeeded runs",
        ),
        (
            vec![("environment", "acme_corp"), ("status", "failed")],
            |m| m.slug == Some("acme_corp") && m.status == "failed",
            "filters combine",
        ),
        (
            vec![("environment", "none"), ("agent", "other-bot")],
            |m| m.slug.is_none() && m.agent == "other-bot",
            "untagged runs of one agent",
        ),
        (
            vec![("environment", "globex"), ("agent", "other-bot")],
            |_| false,
            "filters that exclude each other",
        ),
    ];

    for (pairs, pick, why) in &cases {
        let want: Vec<String> = made
            .iter()
            .rev()
            .filter(|m| pick(m))
            .map(|m| m.id.clone())
            .collect();
        for page_size in [2, 50] {
            let got = list_all(&app, pairs, page_size).await;
            assert_eq!(got, want, "{why} (pageSize {page_size}): {pairs:?}");
        }
    }

    // (from, to, why)
    let windows: Vec<(Option<&str>, Option<&str>, &str)> = vec![
        (Some(&from), Some(&to), "from is inclusive and to exclusive"),
        (Some(&from), None, "from alone"),
        (None, Some(&to), "to alone"),
        (Some("2100-01-01T00:00:00Z"), None, "the future"),
    ];
    for (from, to, why) in windows {
        let mut pairs = vec![];
        if let Some(from) = from {
            pairs.push(("from", from));
        }
        if let Some(to) = to {
            pairs.push(("to", to));
        }
        let (low, high) = (from.map_or(i64::MIN, ms), to.map_or(i64::MAX, ms));
        let want: Vec<String> = made
            .iter()
            .rev()
            .filter(|m| (low..high).contains(&m.started_ms))
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(list_all(&app, &pairs, 3).await, want, "{why}: {pairs:?}");
    }

    let rows = app.get(&format!("{EXECUTIONS}?status=failed")).await.body;
    for row in rows["executions"].as_array().unwrap() {
        assert_eq!(row["status"], "failed", "{row}");
        assert_eq!(row["agent"], "fail-bot", "{row}");
        assert!(
            !row["error"].as_str().unwrap_or_default().is_empty(),
            "{row}"
        );
    }
    let untagged = app
        .get(&format!("{EXECUTIONS}?environment=none"))
        .await
        .body;
    for row in untagged["executions"].as_array().unwrap() {
        assert!(row["environmentSlug"].is_null(), "{row}");
    }
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[actix_web::test]
async fn paging_while_executions_keep_landing_returns_each_earlier_row_exactly_once() {
    let app = spawn_app().await;
    let mut before = Vec::new();
    for i in 0..40 {
        before.push(app.execute_in("busy").await.execution_id());
        if i % 4 == 0 {
            app.execute_in("quiet").await.execution_id();
        }
    }

    // A writer that keeps executing in the listed environment (and another) until told to
    // stop, announcing each execution it has seen answered.
    let landed = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tick, mut ticks) = tokio::sync::watch::channel(0usize);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, key) = (app.client.clone(), app.admin_key.clone());
        let url = format!("{}{EXECUTE}", app.address);
        let (landed, stop) = (landed.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let slug = if n % 3 == 2 { "quiet" } else { "busy" };
                let body = json!({"parameters": {"n": n}, "environmentSlug": slug}).to_string();
                let reply: Reply =
                    send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes()))
                        .await
                        .unwrap();
                if slug == "busy" {
                    landed.lock().unwrap().push(reply.execution_id());
                }
                n += 1;
                tick.send_replace(n);
            }
            n
        })
    };
    ticks.borrow_and_update();
    ticks.changed().await.unwrap();
    let existed: Vec<String> = before
        .iter()
        .cloned()
        .chain(landed.lock().unwrap().iter().cloned())
        .collect();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut pairs = vec![("environment", "busy"), ("pageSize", "7")];
        if let Some(t) = &token {
            pairs.push(("pageToken", t));
        }
        let reply = app.get(&format!("{EXECUTIONS}?{}", query(&pairs))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        for row in reply.body["executions"].as_array().unwrap() {
            assert_eq!(row["environmentSlug"], "busy", "{row}");
        }
        sizes.push(ids(&reply.body).len());
        seen.extend(ids(&reply.body));
        match reply.body.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
        assert!(sizes.len() < 100, "paging never ends");
        // Let at least one more execution land before the next page.
        ticks.changed().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.await.unwrap();

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &seen {
        *counts.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "rows repeated across pages: {repeated:?}"
    );
    let missing: Vec<_> = existed
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rows that existed before paging were skipped: {missing:?}"
    );
    let all_busy: BTreeSet<String> = before
        .iter()
        .cloned()
        .chain(landed.lock().unwrap().clone())
        .collect();
    assert!(
        seen.iter().all(|id| all_busy.contains(id)),
        "only busy rows are listed"
    );
    assert!(
        sizes[..sizes.len() - 1].iter().all(|n| *n == 7),
        "every page but the last is full: {sizes:?}"
    );
    assert!(
        sizes.len() >= 6,
        "40 rows need at least six pages of 7: {sizes:?}"
    );
    assert!(
        written > sizes.len(),
        "executions landed while paging: {written} during {} pages",
        sizes.len()
    );
    let earlier: Vec<&String> = seen.iter().filter(|id| before.contains(id)).collect();
    let newest_first: Vec<&String> = before.iter().rev().collect();
    assert_eq!(earlier, newest_first, "the list is newest first");
}

#[actix_web::test]
async fn bad_list_queries_are_refused_naming_the_parameter() {
    let app = spawn_app().await;
    app.execute_in("acme_corp").await.execution_id();
    app.execute_in("globex").await.execution_id();
    let registry = app.get("/v1/tenants/demo/environments?pageSize=1").await;
    let registry_token = registry.body["nextPageToken"]
        .as_str()
        .unwrap_or_else(|| panic!("two environments make two pages: {}", registry.text))
        .to_string();
    // (query, reason, field, why it must fail)
    let cases: Vec<(Pairs, &str, &str, &str)> = vec![
        (
            vec![("pageToken", "garbage")],
            "INVALID_ARGUMENT",
            "pageToken",
            "not a token",
        ),
        (
            vec![("pageToken", "zz")],
            "INVALID_ARGUMENT",
            "pageToken",
            "not hexadecimal",
        ),
        (
            vec![("pageToken", "616263")],
            "INVALID_ARGUMENT",
            "pageToken",
            "hex of 'abc'",
        ),
        (
            vec![("pageToken", &registry_token)],
            "INVALID_ARGUMENT",
            "pageToken",
            "a token of the environments list",
        ),
        (
            vec![("pageSize", "0")],
            "INVALID_ARGUMENT",
            "pageSize",
            "a page holds a row",
        ),
        (
            vec![("pageSize", "1001")],
            "INVALID_ARGUMENT",
            "pageSize",
            "at most 1000",
        ),
        (
            vec![("pageSize", "-1")],
            "INVALID_ARGUMENT",
            "pageSize",
            "negative",
        ),
        (
            vec![("pageSize", "ten")],
            "INVALID_ARGUMENT",
            "pageSize",
            "not a number",
        ),
        (
            vec![("status", "running")],
            "INVALID_ARGUMENT",
            "status",
            "no such status",
        ),
        (
            vec![("from", "yesterday")],
            "INVALID_ARGUMENT",
            "from",
            "not RFC 3339",
        ),
        (
            vec![("to", "2026-03-01")],
            "INVALID_ARGUMENT",
            "to",
            "a date is not a time",
        ),
        (
            vec![("environment", "Acme-Corp")],
            "INVALID_ENVIRONMENT_SLUG",
            "environment",
            "could never be a slug",
        ),
        (
            vec![("env", "acme_corp")],
            "UNKNOWN_FIELD",
            "env",
            "a typo of environment",
        ),
        (
            vec![("environmentSlug", "acme_corp")],
            "UNKNOWN_FIELD",
            "environmentSlug",
            "the filter is called environment",
        ),
        (
            vec![("session_id", "s1")],
            "UNKNOWN_FIELD",
            "session_id",
            "snake case",
        ),
    ];

    for (pairs, reason, field, why) in &cases {
        let reply = app.get(&format!("{EXECUTIONS}?{}", query(pairs))).await;
        reply.assert_refused(400, reason, why);
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    // A typo of a known parameter is named, as in a body.
    let reply = app.get(&format!("{EXECUTIONS}?session_id=s1")).await;
    assert_eq!(
        reply.metadata()["suggestion"],
        "sessionId",
        "{}",
        reply.text
    );
    assert!(
        reply.message().contains("did you mean sessionId?"),
        "{}",
        reply.text
    );

    let (_, execute_key) = app.create_key("demo", "execute");
    app.send("GET", EXECUTIONS, Some(&execute_key), None)
        .await
        .assert_error(403, "PERMISSION_DENIED");
}

#[actix_web::test]
async fn an_execution_is_read_by_id_and_only_within_its_tenant() {
    let app = spawn_app().await;
    let reply = app
        .execute(&json!({"parameters": {"q": "hi"}, "sessionId": "conv-1",
                         "environmentSlug": "acme_corp"}))
        .await;
    let id = reply.execution_id();

    let record = app.get(&format!("{EXECUTIONS}/{id}")).await;

    assert_eq!(record.status, 200, "{}", record.text);
    for field in [
        "executionId",
        "agent",
        "revision",
        "status",
        "output",
        "sessionId",
        "environmentSlug",
        "usage",
        "costUsd",
        "startedAt",
        "finishedAt",
        "durationMs",
    ] {
        assert_eq!(
            record.body[field], reply.body[field],
            "{field}: {}",
            record.text
        );
    }
    let listed = app.get(EXECUTIONS).await;
    assert_eq!(
        listed.body["executions"][0], record.body,
        "the list shows the same record"
    );

    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let created = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents",
            &json!({"id": "bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let theirs = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents/bot:execute",
            &json!({"parameters": {}, "environmentSlug": "acme_corp"}),
        )
        .await
        .execution_id();

    // (key, path, status, reason, why)
    let cases = [
        (
            &app.admin_key,
            format!("{EXECUTIONS}/{theirs}"),
            404,
            "NOT_FOUND",
            "another tenant's id",
        ),
        (
            &other_key,
            format!("/v1/tenants/other/executions/{id}"),
            404,
            "NOT_FOUND",
            "demo's id asked by the other tenant",
        ),
        (
            &app.admin_key,
            format!("{EXECUTIONS}/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            404,
            "NOT_FOUND",
            "an id nobody minted",
        ),
        (
            &app.admin_key,
            format!("{EXECUTIONS}/x'%20OR%20'1'='1"),
            404,
            "NOT_FOUND",
            "SQL in the id",
        ),
        (
            &app.admin_key,
            format!("/v1/tenants/other/executions/{theirs}"),
            403,
            "PERMISSION_DENIED",
            "demo's key on the other tenant's path",
        ),
    ];
    for (key, path, status, reason, why) in &cases {
        let reply = app.send("GET", path, Some(key), None).await;
        assert_eq!(reply.status.as_u16(), *status, "{why}: {}", reply.text);
        reply.assert_error(*status, reason);
    }

    assert_eq!(
        ids(&app.get(EXECUTIONS).await.body),
        [id.as_str()],
        "demo sees only its own"
    );
    let other_list = app
        .send(
            "GET",
            "/v1/tenants/other/executions",
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(ids(&other_list.body), [theirs]);
}
