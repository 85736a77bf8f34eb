//! The `http` runtime against a local agent that counts its calls: what it is sent, how its
//! reply is priced, how its failures are recorded, and that refusals never reach it.

use std::time::Instant;

use serde_json::{Value, json};

use crate::helpers::{SLOW_AGENT, TestAgent, TestApp, closed_port_url, spawn_app};

const TEAM_BOT: &str = "/v1/tenants/demo/agents/team-bot:execute";

/// The stored (status, error, cost in micro-dollars, input tokens, output tokens) of a run.
fn stored_run(app: &TestApp, id: &str) -> (String, Option<String>, i64, i64, i64) {
    app.db()
        .query_row(
            "SELECT status, error, cost_micros, input_tokens, output_tokens
             FROM executions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap_or_else(|e| panic!("execution {id} is not stored: {e}"))
}

/// A request that must be refused: (key, path, body, status, reason, why it must fail).
type Refusal<'a> = (Option<&'a str>, &'a str, Value, u16, &'a str, &'a str);

#[actix_web::test]
async fn usage_is_priced_by_the_revisions_pricing() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/ok"), 5_000)
        .await;

    let reply = app
        .post(TEAM_BOT, &json!({"parameters": {"q": "hi"}}))
        .await;

    let id = reply.execution_id();
    assert_eq!(reply.body["status"], "succeeded");
    assert_eq!(
        reply.body["usage"],
        json!({"inputTokens": 1000, "outputTokens": 2000})
    );
    assert_eq!(
        reply.body["costUsd"],
        json!(0.033),
        "1000 x $3/M + 2000 x $15/M"
    );
    assert_eq!(
        reply.body["output"],
        json!({"answer": "forty-two", "parameters": {"q": "hi"}})
    );
    assert_eq!(
        stored_run(&app, &id),
        ("succeeded".to_string(), None, 33_000, 1000, 2000)
    );
    assert_eq!(agent.calls(), 1);
}

#[actix_web::test]
async fn the_agents_own_cost_wins_over_pricing() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/priced"), 5_000)
        .await;

    let reply = app.post(TEAM_BOT, &json!({"parameters": {}})).await;

    let id = reply.execution_id();
    assert_eq!(reply.body["costUsd"], json!(0.5));
    assert_eq!(reply.body["output"], "priced by the agent");
    assert_eq!(
        stored_run(&app, &id),
        ("succeeded".to_string(), None, 500_000, 1000, 2000)
    );
}

#[actix_web::test]
async fn an_agent_cost_with_float_noise_is_rounded_and_a_null_output_is_kept() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/float-cost"), 5_000)
        .await;

    let reply = app.post(TEAM_BOT, &json!({"parameters": {}})).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["costUsd"], json!(0.3), "{}", reply.text);
    assert_eq!(reply.body["output"], Value::Null, "{}", reply.text);
    let id = reply.execution_id();
    assert_eq!(
        stored_run(&app, &id),
        ("succeeded".to_string(), None, 300_000, 0, 0)
    );
}

#[actix_web::test]
async fn without_usage_or_pricing_the_cost_is_zero() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    let created = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "free-bot", "runtime": {"kind": "http", "url": agent.url("/ok")}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    let reply = app
        .post(
            "/v1/tenants/demo/agents/free-bot:execute",
            &json!({"parameters": {}}),
        )
        .await;

    let id = reply.execution_id();
    assert_eq!(reply.body["costUsd"], json!(0.0));
    assert_eq!(stored_run(&app, &id).2, 0);
}

#[actix_web::test]
async fn the_agent_receives_the_execution_and_its_tags() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/ok"), 5_000)
        .await;

    let tagged = app
        .post(
            TEAM_BOT,
            &json!({"parameters": {"question": "hello", "n": [1, 2]},
                    "sessionId": "conv-7f2a", "environmentSlug": "acme_corp"}),
        )
        .await;
    let untagged = app.post(TEAM_BOT, &json!({"parameters": {}})).await;

    let requests = agent.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0],
        json!({
            "executionId": tagged.execution_id(),
            "agent": "team-bot",
            "revision": 1,
            "parameters": {"question": "hello", "n": [1, 2]},
            "sessionId": "conv-7f2a",
            "environmentSlug": "acme_corp"
        })
    );
    assert_eq!(requests[1]["executionId"], untagged.execution_id());
    assert_eq!(requests[1]["parameters"], json!({}));
    assert!(requests[1]["sessionId"].is_null(), "{}", requests[1]);
    assert!(requests[1]["environmentSlug"].is_null(), "{}", requests[1]);
}

#[actix_web::test]
async fn the_agent_is_told_which_revision_runs() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/ok"), 5_000)
        .await;
    let second = app
        .post(
            "/v1/tenants/demo/agents/team-bot/revisions",
            &json!({"runtime": {"kind": "http", "url": agent.url("/priced")}}),
        )
        .await;
    assert_eq!(second.body["revision"], 2, "{}", second.text);

    let latest = app.post(TEAM_BOT, &json!({"parameters": {}})).await;
    let pinned = app
        .post(
            "/v1/tenants/demo/agents/team-bot/revisions/1:execute",
            &json!({"parameters": {}}),
        )
        .await;

    assert_eq!(
        (
            latest.body["revision"].clone(),
            latest.body["costUsd"].clone()
        ),
        (2.into(), 0.5.into())
    );
    assert_eq!(pinned.body["revision"], 1, "{}", pinned.text);
    assert_eq!(
        pinned.body["costUsd"],
        json!(0.033),
        "revision 1 keeps its own pricing"
    );
    let requests = agent.requests();
    assert_eq!(
        (
            requests[0]["revision"].clone(),
            requests[1]["revision"].clone()
        ),
        (2.into(), 1.into())
    );
}

#[actix_web::test]
async fn a_failing_agent_is_recorded_and_answered_with_502() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    let unreachable = closed_port_url();
    // (agent id, url, timeout in ms, what the recorded error must mention, why it fails)
    let cases: Vec<(&str, String, u64, &str, &str)> = vec![
        (
            "fail-bot",
            agent.url("/fail"),
            5_000,
            "500",
            "the agent answers HTTP 500",
        ),
        (
            "slow-bot",
            agent.url("/slow"),
            200,
            "200 ms",
            "the agent is slower than its timeout",
        ),
        (
            "garbage-bot",
            agent.url("/garbage"),
            5_000,
            "JSON",
            "the reply is not JSON",
        ),
        (
            "silent-bot",
            agent.url("/no-output"),
            5_000,
            "output",
            "the reply has no output",
        ),
        (
            "lost-bot",
            agent.url("/missing"),
            5_000,
            "404",
            "the agent's path answers 404",
        ),
        (
            "gone-bot",
            unreachable,
            5_000,
            "unreachable",
            "nothing listens on the port",
        ),
    ];

    for (id, url, timeout, mention, why) in &cases {
        app.create_http_agent(id, url, *timeout).await;
        let path = format!("/v1/tenants/demo/agents/{id}:execute");

        let started = Instant::now();
        let reply = app
            .post(
                &path,
                &json!({"parameters": {"q": "hi"}, "environmentSlug": "failing"}),
            )
            .await;
        // A timeout answers when it expires, not when the agent finally does.
        assert!(
            started.elapsed() < SLOW_AGENT,
            "{why}: took {:?}",
            started.elapsed()
        );

        reply.assert_error(502, "AGENT_FAILED");
        let execution = reply.metadata()["executionId"].as_str().unwrap_or_else(|| {
            panic!(
                "{why}: metadata.executionId names the execution: {}",
                reply.text
            )
        });
        assert!(reply.message().contains(execution), "{why}: {}", reply.text);
        let (status, error, cost, _, _) = stored_run(&app, execution);
        assert_eq!(status, "failed", "{why}");
        let error = error.unwrap_or_default();
        assert!(
            error.contains(mention),
            "{why}: the recorded error says {error:?}"
        );
        assert_eq!(cost, 0, "{why}");
        let (agent_id, slug): (String, String) = app
            .db()
            .query_row(
                "SELECT agent_id, environment_slug FROM executions WHERE id = ?1",
                [execution],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (agent_id.as_str(), slug.as_str()),
            (*id, "failing"),
            "{why}"
        );
    }

    assert_eq!(
        agent.calls(),
        5,
        "every failing agent but the unreachable one was called once"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM executions WHERE status = 'failed'"),
        6
    );
}

#[actix_web::test]
async fn refused_requests_never_reach_the_agent() {
    let app = spawn_app().await;
    let agent = TestAgent::start().await;
    app.create_http_agent("team-bot", &agent.url("/ok"), 5_000)
        .await;
    app.post(
        TEAM_BOT,
        &json!({"parameters": {}, "environmentSlug": "known"}),
    )
    .await
    .execution_id();
    app.cli(&["tenant", "set-cap", "demo", "1"]);
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let stream = "/v1/tenants/demo/agents/team-bot:stream";
    let calls = agent.calls();
    let before = app.stored();

    // (key, path, body, expected status and reason, why it must fail)
    let admin = Some(app.admin_key.as_str());
    let cases: Vec<Refusal> = vec![
        (
            admin,
            TEAM_BOT,
            json!({"parameters": {}, "environmentSlug": "Bad-Slug"}),
            400,
            "INVALID_ENVIRONMENT_SLUG",
            "a bad slug",
        ),
        (
            admin,
            stream,
            json!({"parameters": {}, "environmentSlug": "Bad-Slug"}),
            400,
            "INVALID_ENVIRONMENT_SLUG",
            "a bad slug, streamed",
        ),
        (
            admin,
            TEAM_BOT,
            json!({"parameters": {}, "environment_slug": "known"}),
            400,
            "UNKNOWN_FIELD",
            "an unknown field",
        ),
        (
            admin,
            TEAM_BOT,
            json!({"parameters": "hi"}),
            400,
            "INVALID_ARGUMENT",
            "a wrong type",
        ),
        (
            None,
            TEAM_BOT,
            json!({"parameters": {}}),
            401,
            "UNAUTHENTICATED",
            "no key",
        ),
        (
            None,
            stream,
            json!({"parameters": {}}),
            401,
            "UNAUTHENTICATED",
            "no key, streamed",
        ),
        (
            Some(other_key.as_str()),
            TEAM_BOT,
            json!({"parameters": {}}),
            403,
            "PERMISSION_DENIED",
            "another tenant's key",
        ),
        (
            admin,
            TEAM_BOT,
            json!({"parameters": {}, "environmentSlug": "brand_new"}),
            400,
            "ENVIRONMENT_CAP_REACHED",
            "the cap is reached",
        ),
        (
            Some(execute_key.as_str()),
            stream,
            json!({"parameters": {}, "environmentSlug": "brand_new"}),
            400,
            "ENVIRONMENT_CAP_REACHED",
            "the cap is reached, streamed",
        ),
        (
            admin,
            "/v1/tenants/demo/agents/team-bot/revisions/2:execute",
            json!({"parameters": {}}),
            404,
            "NOT_FOUND",
            "an unknown revision",
        ),
        (
            admin,
            "/v1/tenants/demo/agents/team-bot/revisions/2:stream",
            json!({"parameters": {}}),
            404,
            "NOT_FOUND",
            "an unknown revision, streamed",
        ),
    ];

    for (key, path, body, code, reason, why) in &cases {
        let reply = app.post_as(*key, path, body).await;
        assert_eq!(reply.status, *code, "{why}: {}", reply.text);
        reply.assert_error(*code, reason);
        assert_eq!(agent.calls(), calls, "{why}: the agent was called");
    }

    assert_eq!(app.stored().executions, before.executions);
    assert_eq!(app.stored().environments, before.environments);
    let known = app
        .post(
            TEAM_BOT,
            &json!({"parameters": {}, "environmentSlug": "known"}),
        )
        .await;
    known.execution_id();
    assert_eq!(agent.calls(), calls + 1, "the counter does count");
}

#[actix_web::test]
async fn http_agents_are_validated_when_created() {
    let app = spawn_app().await;
    // (runtime, field, why it must fail)
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"kind": "http", "url": "ftp://127.0.0.1/run"}),
            "runtime.url",
            "not http",
        ),
        (
            json!({"kind": "http", "url": "/run"}),
            "runtime.url",
            "not absolute",
        ),
        (
            json!({"kind": "http", "url": "http://127.0.0.1:9/", "timeoutMs": 0}),
            "runtime.timeoutMs",
            "a zero timeout",
        ),
    ];
    let before = app.stored();

    for (runtime, field, why) in cases {
        let reply = app
            .post(
                "/v1/tenants/demo/agents",
                &json!({"id": "bad-bot", "runtime": runtime}),
            )
            .await;
        reply.assert_error(400, "INVALID_ARGUMENT");
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    let no_url = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "bad-bot", "runtime": {"kind": "http"}}),
        )
        .await;
    no_url.assert_error(400, "INVALID_ARGUMENT");
    let unknown_kind = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "bad-bot", "runtime": {"kind": "lambda"}}),
        )
        .await;
    assert_eq!(unknown_kind.status, 400, "{}", unknown_kind.text);
    assert_eq!(app.stored(), before);
}

#[actix_web::test]
async fn a_wrong_type_inside_the_runtime_names_the_nested_field() {
    let app = spawn_app().await;
    let before = app.stored();
    let runtime = json!({"kind": "http", "url": "http://127.0.0.1:9/run", "timeoutMs": "5s"});

    let reply = app
        .post(
            "/v1/tenants/demo/agents",
            &json!({"id": "bad-bot", "runtime": runtime}),
        )
        .await;

    reply.assert_error(400, "INVALID_ARGUMENT");
    assert_eq!(
        reply.metadata()["field"],
        "runtime.timeoutMs",
        "{}",
        reply.text
    );
    assert!(
        reply.message().contains("timeoutMs"),
        "name the field: {}",
        reply.text
    );
    assert_eq!(app.stored(), before);
}
