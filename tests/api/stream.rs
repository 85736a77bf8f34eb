//! `:stream`: server-sent events `execution`, `delta`, then `done` (or `error`); everything
//! that can be refused is refused with the plain JSON error before the stream starts.

use serde_json::{Value, json};

use std::time::{Duration, Instant};

use crate::helpers::{Reply, SLOW_AGENT, TestAgent, spawn_app, sse_events};

const STREAM: &str = "/v1/tenants/demo/agents/support-bot:stream";

/// The events of a streamed reply, after checking that it is a 200 event stream.
#[track_caller]
fn events(reply: &Reply) -> Vec<(String, Value)> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("text/event-stream"),
        "got {:?}: {}",
        reply.content_type,
        reply.text
    );
    sse_events(&reply.text)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// A request that must be refused: (key, path, body, status, reason, why it must fail).
type Refusal<'a> = (Option<&'a str>, &'a str, Value, u16, &'a str, &'a str);

#[actix_web::test]
async fn a_stream_announces_the_execution_then_deltas_then_the_record() {
    let app = spawn_app().await;
    let body = json!({"parameters": {"question": "hello"}, "sessionId": "conv-7f2a",
                      "environmentSlug": "acme_corp"});

    let reply = app.post(STREAM, &body).await;

    let events = events(&reply);
    let names = names(&events);
    assert_eq!(names.first(), Some(&"execution"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(names.contains(&"delta"), "{names:?}");
    assert!(
        names[1..names.len() - 1].iter().all(|n| *n == "delta"),
        "only deltas between the first and the last event: {names:?}"
    );
    let id = events[0].1["executionId"]
        .as_str()
        .expect("the execution event names the id");
    let done = &events.last().unwrap().1;
    assert_eq!(done["executionId"], id);
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["output"], json!({"question": "hello"}));
    assert_eq!(done["environmentSlug"], "acme_corp");
    assert_eq!(done["sessionId"], "conv-7f2a");

    let (status, slug): (String, String) = app
        .db()
        .query_row(
            "SELECT status, environment_slug FROM executions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the streamed execution is stored");
    assert_eq!((status.as_str(), slug.as_str()), ("succeeded", "acme_corp"));
    assert_eq!(
        app.count("SELECT count(*) FROM environments WHERE slug = 'acme_corp'"),
        1
    );
}

#[actix_web::test]
async fn the_done_event_carries_the_same_record_as_execute() {
    let app = spawn_app().await;
    let body = json!({"parameters": {"q": "same"}, "sessionId": "s-1", "environmentSlug": "same"});

    let executed = app.execute(&body).await;
    let streamed = app.post(STREAM, &body).await;

    let done = events(&streamed).pop().unwrap().1;
    let executed = executed.body.as_object().unwrap().clone();
    let done = done.as_object().unwrap();
    let mut keys: Vec<_> = executed.keys().collect();
    let mut done_keys: Vec<_> = done.keys().collect();
    keys.sort();
    done_keys.sort();
    assert_eq!(keys, done_keys, "the same fields");
    for field in [
        "agent",
        "revision",
        "status",
        "output",
        "sessionId",
        "environmentSlug",
        "usage",
    ] {
        assert_eq!(executed[field], done[field], "{field}");
    }
    assert_eq!(executed["costUsd"], done["costUsd"]);
    assert_ne!(
        executed["executionId"], done["executionId"],
        "each run has its own id"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM executions WHERE environment_slug = 'same'"),
        2
    );
}

#[actix_web::test]
async fn refusals_are_plain_json_errors_not_streams() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "0"]);
    let before = app.stored();
    // (key, path, body, status, reason, why it must fail)
    let admin = Some(app.admin_key.as_str());
    let cases: Vec<Refusal> = vec![
        (
            admin,
            STREAM,
            json!({"parameters": {}, "environmentSlug": "Acme-Corp"}),
            400,
            "INVALID_ENVIRONMENT_SLUG",
            "a bad slug",
        ),
        (
            None,
            STREAM,
            json!({"parameters": {}}),
            401,
            "UNAUTHENTICATED",
            "no key",
        ),
        (
            Some("fx_nope"),
            STREAM,
            json!({"parameters": {}}),
            401,
            "UNAUTHENTICATED",
            "an unknown key",
        ),
        (
            admin,
            STREAM,
            json!({"parameters": {}, "environment_slug": "acme"}),
            400,
            "UNKNOWN_FIELD",
            "an unknown field",
        ),
        (
            admin,
            STREAM,
            json!({"parameters": []}),
            400,
            "INVALID_ARGUMENT",
            "a wrong type",
        ),
        (
            admin,
            STREAM,
            json!({"parameters": {}, "environmentSlug": "new_one"}),
            400,
            "ENVIRONMENT_CAP_REACHED",
            "the cap",
        ),
        (
            admin,
            "/v1/tenants/demo/agents/no-such-bot:stream",
            json!({"parameters": {}}),
            404,
            "NOT_FOUND",
            "an unknown agent",
        ),
        (
            admin,
            "/v1/tenants/other/agents/support-bot:stream",
            json!({"parameters": {}}),
            403,
            "PERMISSION_DENIED",
            "another tenant",
        ),
    ];

    for (key, path, body, code, reason, why) in &cases {
        let reply = app.post_as(*key, path, body).await;
        assert!(
            !reply.content_type.contains("event-stream"),
            "{why}: {}",
            reply.text
        );
        assert_eq!(reply.status, *code, "{why}: {}", reply.text);
        reply.assert_error(*code, reason);
    }

    let malformed = app
        .send("POST", STREAM, admin, Some(b"{\"parameters\": "))
        .await;
    malformed.assert_error(400, "MALFORMED_JSON");
    assert_eq!(app.stored(), before, "refused streams store nothing");
}

#[actix_web::test]
async fn a_failing_agent_ends_the_stream_with_an_error_naming_the_execution() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("fail-bot", &agent.url("/fail"), 5_000)
        .await;

    let reply = app
        .post(
            "/v1/tenants/demo/agents/fail-bot:stream",
            &json!({"parameters": {}}),
        )
        .await;

    let events = events(&reply);
    assert_eq!(names(&events).first(), Some(&"execution"));
    assert_eq!(
        names(&events).last(),
        Some(&"error"),
        "{:?}",
        names(&events)
    );
    assert!(!names(&events).contains(&"done"));
    let id = events[0].1["executionId"].as_str().unwrap();
    let error = &events.last().unwrap().1["error"];
    let detail = &error["details"][0];
    assert_eq!(detail["reason"], "AGENT_FAILED", "{error}");
    assert_eq!(error["code"], 502, "{error}");
    assert_eq!(detail["metadata"]["executionId"], id, "{error}");
    let (status, stored_error): (String, Option<String>) = app
        .db()
        .query_row(
            "SELECT status, error FROM executions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the failed run is stored");
    assert_eq!(status, "failed");
    assert!(stored_error.is_some_and(|e| e.contains("500")));
    assert_eq!(agent.calls(), 1);
}

#[actix_web::test]
async fn a_pinned_revision_can_be_streamed() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    let second = app
        .post(
            "/v1/tenants/demo/agents/support-bot/revisions",
            &json!({"runtime": {"kind": "http", "url": agent.url("/ok")}}),
        )
        .await;
    assert_eq!(second.body["revision"], 2, "{}", second.text);

    let pinned = app
        .post(
            "/v1/tenants/demo/agents/support-bot/revisions/1:stream",
            &json!({"parameters": {"q": "pinned"}, "environmentSlug": "pinned"}),
        )
        .await;
    let latest = app
        .post(STREAM, &json!({"parameters": {"q": "latest"}}))
        .await;

    let pinned = events(&pinned);
    let done = &pinned.last().unwrap().1;
    assert_eq!(pinned.last().unwrap().0, "done");
    assert_eq!(
        pinned[0].1["revision"], 1,
        "the execution event names the revision"
    );
    assert_eq!(done["revision"], 1);
    assert_eq!(
        done["output"],
        json!({"q": "pinned"}),
        "revision 1 is the echo agent"
    );
    let latest = events(&latest);
    assert_eq!(latest.last().unwrap().1["revision"], 2);
    assert_eq!(
        agent.calls(),
        1,
        "only the latest revision called the http agent"
    );
    let id = done["executionId"].as_str().unwrap();
    let revision: i64 = app
        .db()
        .query_row("SELECT revision FROM executions WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(revision, 1);
}

#[actix_web::test]
async fn an_http_agents_output_arrives_as_a_delta() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/ok"), 5_000)
        .await;

    let reply = app
        .post(
            "/v1/tenants/demo/agents/team-bot:stream",
            &json!({"parameters": {"q": 1}}),
        )
        .await;

    let events = events(&reply);
    let delta = events
        .iter()
        .find(|(n, _)| n == "delta")
        .expect("a delta event");
    assert!(delta.1.to_string().contains("forty-two"), "{}", delta.1);
    let done = &events.last().unwrap().1;
    assert_eq!(done["costUsd"], json!(0.033));
    assert_eq!(
        done["usage"],
        json!({"inputTokens": 1000, "outputTokens": 2000})
    );
}

#[actix_web::test]
async fn a_run_is_recorded_even_when_the_client_leaves_mid_stream() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("slow-bot", &agent.url("/slow"), 10_000)
        .await;

    let mut response = app
        .client
        .post(format!(
            "{}/v1/tenants/demo/agents/slow-bot:stream",
            app.address
        ))
        .insert_header(("X-API-KEY", app.admin_key.as_str()))
        .send_json(&json!({"parameters": {}, "environmentSlug": "walked_away"}))
        .await
        .expect("the stream starts");
    assert_eq!(response.status(), 200);
    // The `execution` event comes before the agent answers; then the client hangs up.
    let first = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut response), cx)
    })
    .await
    .expect("a first chunk")
    .expect("the first chunk arrives");
    drop(response);
    let first = String::from_utf8_lossy(&first).into_owned();
    let events = sse_events(&first);
    assert_eq!(events[0].0, "execution", "{first}");
    let id = events[0].1["executionId"].as_str().unwrap().to_string();
    assert_eq!(
        app.count("SELECT count(*) FROM executions"),
        0,
        "not recorded before it ends"
    );

    // The agent takes SLOW_AGENT; the record appears once it has answered.
    let deadline = Instant::now() + SLOW_AGENT + Duration::from_secs(10);
    let status = loop {
        let found: Option<String> = app
            .db()
            .query_row("SELECT status FROM executions WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .ok();
        match found {
            Some(status) => break status,
            None if Instant::now() < deadline => {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await
            }
            None => panic!("execution {id} was never recorded"),
        }
    };
    assert_eq!(status, "succeeded");
    assert_eq!(agent.calls(), 1);
}
