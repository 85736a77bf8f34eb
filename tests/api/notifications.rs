//! Cap alerts through a real SMTP conversation: the 80% warning, the cap-reached e-mail, the
//! outbox surviving an SMTP outage and a restart, and exactly one mail under concurrency.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fruxon::config::Settings;
use fruxon::domain::time::SystemClock;
use fruxon::startup::Application;
use serde_json::{Value, json};

use crate::helpers::{ManualClock, TestApp, client, send_to, spawn_app_on, spawn_app_with};
use crate::smtp::{Mail, SmtpSink};

const ADMIN: &str = "ops@example.com";

/// A demo app whose cap is `cap`, whose admin is `ADMIN`, mailing through `smtp_url`.
async fn app_mailing_to(smtp_url: Option<String>, cap: i64) -> TestApp {
    let app = spawn_app_with(|s| s.smtp_url = smtp_url).await;
    app.cli(&["tenant", "set-cap", "demo", &cap.to_string()]);
    let reply = app
        .patch(
            "/v1/tenants/demo/settings",
            &json!({"adminEmails": [ADMIN]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    app
}

async fn notifications(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/v1/tenants/demo/notifications").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["notifications"].as_array().unwrap().clone()
}

/// Waits until every notification has left `pending`.
async fn settled(app: &TestApp, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let all = notifications(app).await;
        if all.iter().all(|n| n["status"] != "pending") {
            return all;
        }
        assert!(Instant::now() < deadline, "still pending: {all:?}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of a mail body with quoted-printable soft breaks undone.
fn text(mail: &Mail) -> String {
    mail.data.replace("=\r\n", "").replace("=3D", "=")
}

#[actix_web::test]
async fn the_warning_arrives_once_at_80_percent_and_not_again_on_further_growth() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(Some(sink.url()), 10).await;

    for i in 0..7 {
        assert_eq!(app.execute_in(&format!("customer_{i}")).await.status, 200);
    }
    assert!(
        notifications(&app).await.is_empty(),
        "no warning below 8 of 10"
    );
    assert_eq!(app.execute_in("customer_7").await.status, 200);
    let mails = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(app.execute_in("customer_8").await.status, 200);
    assert_eq!(app.execute_in("customer_7").await.status, 200);

    let all = settled(&app, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["kind"], "environment_cap_warning");
    assert_eq!(all[0]["status"], "sent");
    assert_eq!(all[0]["attempts"], 1);
    assert_eq!(all[0]["recipients"], json!([ADMIN]));
    assert_eq!(mails[0].to, vec![format!("<{ADMIN}>")]);
    assert_eq!(mails[0].from, "<fruxon@localhost>");
    assert!(
        mails[0]
            .subject()
            .starts_with("demo: 8 of 10 environments used"),
        "{mails:?}"
    );
    let body = text(&mails[0]);
    assert!(
        body.contains("customer_7"),
        "recent slugs are listed: {body}"
    );
    assert!(
        body.contains("fruxon tenant set-cap demo"),
        "what to do is said: {body}"
    );
    assert!(!body.contains(&app.admin_key), "no key in a mail");
    assert_eq!(sink.mails().len(), 1, "no second warning on further growth");
}

#[actix_web::test]
async fn the_warning_rearms_only_after_the_count_falls_below_80_percent() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(Some(sink.url()), 10).await;
    for i in 0..8 {
        assert_eq!(app.execute_in(&format!("customer_{i}")).await.status, 200);
    }
    sink.wait_for(1, Duration::from_secs(10));

    // Down to 7 (below 80%) and up to 8 again: a new crossing, a new warning.
    assert_eq!(
        app.delete("/v1/tenants/demo/environments/customer_0")
            .await
            .status,
        204
    );
    assert_eq!(app.execute_in("customer_8").await.status, 200);

    let mails = sink.wait_for(2, Duration::from_secs(10));
    assert_eq!(mails.len(), 2);
    assert_eq!(notifications(&app).await.len(), 2);
}

#[actix_web::test]
async fn lowering_the_cap_past_80_percent_warns_without_a_new_environment() {
    let app = app_mailing_to(None, 10).await;
    for i in 0..5 {
        assert_eq!(app.execute_in(&format!("customer_{i}")).await.status, 200);
    }
    assert!(notifications(&app).await.is_empty(), "5 of 10 is below 80%");

    // 5 of 6 is past 80%: the operator's change itself warns, once.
    app.cli(&["tenant", "set-cap", "demo", "6"]);
    app.cli(&["tenant", "set-cap", "demo", "6"]);
    let all = notifications(&app).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["kind"], "environment_cap_warning");
    assert!(
        all[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("demo: 5 of 6 environments used"),
        "{all:?}"
    );

    // Raised far above, the warning re-arms; lowered again, it warns again.
    app.cli(&["tenant", "set-cap", "demo", "100"]);
    assert_eq!(notifications(&app).await.len(), 1);
    app.cli(&["tenant", "set-cap", "demo", "5"]);
    assert_eq!(notifications(&app).await.len(), 2);
}

#[actix_web::test]
async fn the_cap_mail_arrives_once_while_many_requests_are_refused_and_explains_why() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(Some(sink.url()), 10).await;
    for i in 0..10 {
        let slug = format!("req_9f1c2e7a_4b3d_4e5f_8a9b_0c1d2e3f4a{i:02}");
        assert_eq!(app.execute_in(&slug).await.status, 200);
    }

    for i in 0..25 {
        let refused = app
            .execute_in(&format!("req_77777777_4b3d_4e5f_8a9b_0c1d2e3f4a{i:02}"))
            .await;
        refused.assert_error(400, "ENVIRONMENT_CAP_REACHED");
    }

    let all = settled(&app, Duration::from_secs(10)).await;
    let kinds: Vec<&str> = all.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec!["environment_cap_reached", "environment_cap_warning"]
    );
    let mails = sink.wait_for(2, Duration::from_secs(10));
    let cap_mail = mails
        .iter()
        .find(|m| m.subject().contains("being refused"))
        .unwrap();
    assert_eq!(
        cap_mail.subject(),
        "demo: 10 of 10 environments used, new customers are being refused"
    );
    let body = text(cap_mail);
    assert!(
        body.contains("req_77777777_4b3d_4e5f_8a9b_0c1d2e3f4a00"),
        "refused slug: {body}"
    );
    assert!(
        body.contains("req_9f1c2e7a_4b3d_4e5f_8a9b_0c1d2e3f4a09"),
        "recent slug: {body}"
    );
    assert!(
        body.contains("created in the last 24 hours: 10"),
        "24 h count: {body}"
    );
    assert!(body.contains("Likely cause:"), "likely cause: {body}");
    assert!(body.contains("UUID"), "the cause names the pattern: {body}");
    assert!(
        body.contains(&format!("{}/", app.address)),
        "a link to the page: {body}"
    );
    assert_eq!(
        sink.mails().len(),
        2,
        "one cap mail, not one per refused request"
    );
}

#[actix_web::test]
async fn concurrent_requests_crossing_the_thresholds_produce_exactly_one_mail_each() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(Some(sink.url()), 10).await;
    for i in 0..7 {
        assert_eq!(app.execute_in(&format!("customer_{i}")).await.status, 200);
    }

    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, key) = (client(), app.admin_key.clone());
        let url = format!("{}/v1/tenants/demo/agents/support-bot:execute", app.address);
        let body = json!({"parameters": {}, "environmentSlug": format!("burst_{i}")});
        tasks.push(actix_web::rt::spawn(async move {
            let body = body.to_string();
            send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes()))
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap().status == 200 {
            admitted += 1;
        }
    }

    assert_eq!(admitted, 3);
    let all = settled(&app, Duration::from_secs(10)).await;
    let mut kinds: Vec<&str> = all.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["environment_cap_reached", "environment_cap_warning"]
    );
    assert_eq!(sink.wait_for(2, Duration::from_secs(10)).len(), 2);
}

#[actix_web::test]
async fn without_smtp_the_notification_is_kept_as_unconfigured() {
    let app = app_mailing_to(None, 2).await;

    assert_eq!(app.execute_in("acme_corp").await.status, 200);
    assert_eq!(app.execute_in("globex").await.status, 200);

    let all = settled(&app, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "unconfigured");
    assert_eq!(all[0]["attempts"], 0);
    assert!(
        all[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("FRUXON_SMTP_URL")
    );
}

/// Starts fruxon on an existing database file.
async fn restart(db: PathBuf, smtp_url: String) -> (String, actix_web::dev::ServerHandle) {
    let mut settings = Settings::for_db(db);
    settings.workers = 2;
    settings.smtp_url = Some(smtp_url);
    let app = Application::build(settings, Arc::new(SystemClock)).expect("the app builds");
    assert!(
        app.demo_key.is_none(),
        "a restart does not create the demo again"
    );
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    (address, handle)
}

#[actix_web::test]
async fn a_mail_queued_while_smtp_is_down_is_delivered_after_it_returns_even_across_a_restart() {
    let port = SmtpSink::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = app_mailing_to(Some(url.clone()), 2).await;
    assert_eq!(app.execute_in("acme_corp").await.status, 200);
    assert_eq!(app.execute_in("globex").await.status, 200);

    // The first attempt fails: nothing listens on the port.
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let all = notifications(&app).await;
        if all
            .first()
            .is_some_and(|n| n["attempts"].as_i64().unwrap() >= 1)
        {
            break all[0].clone();
        }
        assert!(Instant::now() < deadline, "no attempt was made: {all:?}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["status"], "pending");
    assert!(failed["lastError"].as_str().is_some_and(|e| !e.is_empty()));

    app.stop().await;
    let sink = SmtpSink::start_on(port);
    let (address, handle) = restart(app.db_path.clone(), url).await;

    let mails = sink.wait_for(1, Duration::from_secs(30));
    assert!(
        mails[0]
            .subject()
            .starts_with("demo: 2 of 2 environments used")
    );
    let reply = send_to(
        &client(),
        &format!("{address}/v1/tenants/demo/notifications"),
        "GET",
        Some(&app.admin_key),
        None,
    )
    .await
    .unwrap();
    let n = &reply.body["notifications"][0];
    assert_eq!(n["status"], "sent", "{n}");
    assert!(n["attempts"].as_i64().unwrap() >= 2);
    handle.stop(true).await;
}

#[actix_web::test]
async fn a_cap_episode_mails_once_however_long_and_a_new_one_waits_a_day_after_the_last() {
    let sink = SmtpSink::start();
    let clock = ManualClock::at("2026-03-10T12:00:00Z");
    let url = sink.url();
    let app = spawn_app_on(move |s| s.smtp_url = Some(url), Arc::new(clock.clone())).await;
    app.cli(&["tenant", "set-cap", "demo", "1"]);
    let reply = app
        .patch(
            "/v1/tenants/demo/settings",
            &json!({"adminEmails": [ADMIN]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(app.execute_in("acme_corp").await.status, 200);
    let cap_mails = |app: &TestApp| {
        let db = app.db();
        db.query_row(
            "SELECT count(*) FROM notifications WHERE kind = 'environment_cap_reached'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };

    // The first refusal opens the episode and mails; more refusals that day do not.
    app.execute_in("globex")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    clock.advance(23 * 3_600_000);
    app.execute_in("initech")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(cap_mails(&app), 1, "one mail for the episode");

    // A new episode less than a day after the last mail waits for that day to pass.
    assert_eq!(
        app.delete("/v1/tenants/demo/environments/acme_corp")
            .await
            .status,
        204
    );
    assert_eq!(app.execute_in("hooli").await.status, 200);
    app.execute_in("pied_piper")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(
        cap_mails(&app),
        1,
        "no second cap mail within a day, even for a new episode"
    );
    clock.advance(3_600_000);
    app.execute_in("aviato")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(
        cap_mails(&app),
        2,
        "the new episode's mail, once the day has passed"
    );

    // However long the episode then lasts, it does not mail again.
    for slug in ["umbrella", "vandelay"] {
        clock.advance(3 * 24 * 3_600_000);
        app.execute_in(slug)
            .await
            .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    }
    assert_eq!(
        cap_mails(&app),
        2,
        "one mail per episode, however long it lasts"
    );

    // Two cap mails and, at a cap of 1, two warnings (the delete re-armed it).
    let mails = sink.wait_for(4, Duration::from_secs(10));
    let second = mails.iter().map(text).find(|m| m.contains("aviato"));
    let second = second.expect("the second episode's mail lists the slugs it refused");
    assert!(
        second.contains("pied_piper") && !second.contains("globex"),
        "the slugs of its own episode, including those before the mail: {second}"
    );
}
