//! Monitoring → Notifications: what was sent to the admins, with its delivery status.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::webdriver::Browser;

/// The first page of notifications once the newest has left `pending` (the mailer polls
/// about twice a second; with no SMTP server it marks them `unconfigured`).
pub async fn delivered_notifications(app: &TestApp) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let page = app.get("/v1/tenants/demo/notifications").await;
        let items = page["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.first().is_some_and(|n| n["status"] != "pending") {
            return items;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no notification left pending within 15 s: {page}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the notifications table to show `n` rows.
async fn wait_rows(b: &Browser, n: usize) {
    b.wait_until(
        &format!("{n} notification rows"),
        &format!(
            "!document.querySelector('#notif-table').hasAttribute('aria-busy') && \
             document.querySelectorAll('#notif-body tr').length === {n}"
        ),
    )
    .await;
}

/// The text of each cell of the first notification row.
async fn first_row(b: &Browser) -> Value {
    b.js(
        "return Array.from(document.querySelector('#notif-body tr').children)\
         .map(c => c.querySelector('summary') ? c.querySelector('summary').textContent\
                                               : c.textContent);",
        vec![],
    )
    .await
}

#[actix_web::test]
async fn notifications_appear_in_monitoring_with_their_status_after_a_cap_warning() {
    let app = TestApp::spawn().await;
    app.cli(&["tenant", "set-cap", "demo", "5"]);
    let b = Browser::open("notifications-cap-warning").await;
    app.sign_in(&b).await;
    b.click_on("#nav a[data-view=monitoring]").await;
    b.wait_text(
        "#notif-empty",
        "No notifications yet: they are sent when the registry nears its cap or a budget \
         threshold is crossed",
    )
    .await;
    b.js(
        "document.getElementById('notif-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("1-empty").await;

    // The fourth environment of five crosses 80% of the cap.
    for slug in ["acme_corp", "globex", "initech", "umbrella"] {
        app.execute(Some(slug), None).await;
    }
    let items = delivered_notifications(&app).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let n = &items[0];
    assert_eq!(n["kind"], "environment_cap_warning");
    assert_eq!(
        n["status"], "unconfigured",
        "no SMTP server is configured: {n}"
    );

    b.click_on("#notif-refresh").await;
    wait_rows(&b, 1).await;
    let recipients: Vec<&str> = n["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let recipients = if recipients.is_empty() {
        "none".to_string()
    } else {
        recipients.join(", ")
    };
    assert_eq!(
        first_row(&b).await,
        json!([
            "just now",
            "environment_cap_warning",
            n["subject"],
            recipients,
            "unconfigured",
            n["attempts"].to_string(),
            n["lastError"]
        ])
    );
    let created = b.wait_for("#notif-body tr time").await;
    assert_eq!(
        b.attribute(&created, "title").await.as_deref(),
        n["createdAt"].as_str(),
        "the exact time on hover"
    );
    let badge = b.wait_for("#notif-body .badge").await;
    assert_eq!(
        b.attribute(&badge, "class").await.as_deref(),
        Some("badge badge-unconfigured")
    );

    // The message itself is one click away.
    let body = b.try_find("#notif-body pre").await.expect("the body");
    assert!(!b.displayed(&body).await, "the body starts folded");
    b.click_on("#notif-body summary").await;
    b.wait_for("#notif-body details[open] pre").await;
    let shown = b
        .js(
            "return document.querySelector('#notif-body pre').textContent;",
            vec![],
        )
        .await;
    assert_eq!(shown, n["body"]);
    assert!(
        b.find_all("#notif-empty:not([hidden])").await.is_empty(),
        "no empty state next to a row"
    );
    b.js(
        "document.getElementById('notif-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("2-cap-warning").await;

    b.close().await;
    app.stop().await;
}

/// A notification to write into the outbox: subject, body, recipient, status, attempts and
/// last error.
type Notice<'a> = (&'a str, &'a str, &'a str, &'a str, i64, Option<&'a str>);

/// Writes notifications straight into the outbox: the server builds subjects only from
/// checked identifiers, so markup cannot reach them through the API.
fn insert_notifications(app: &TestApp, rows: &[Notice]) {
    let conn = rusqlite::Connection::open(&app.db_path).expect("the database opens");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    for (i, (subject, body, recipient, status, attempts, error)) in rows.iter().enumerate() {
        let created = now - (rows.len() - 1 - i) as i64 * 60_000;
        conn.execute(
            "INSERT INTO notifications (tenant_id, kind, created_at, recipients, subject, body,
                 status, attempts, last_error, next_attempt_at)
             VALUES ('demo', 'budget_threshold', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?1)",
            rusqlite::params![
                created,
                json!([recipient]).to_string(),
                subject,
                body,
                status,
                attempts,
                error
            ],
        )
        .expect("a notification is written");
    }
}

#[actix_web::test]
async fn notification_text_with_markup_renders_as_text_and_the_list_pages() {
    let app = TestApp::spawn().await;
    let subjects: Vec<String> = (1..=22).map(|i| format!("ordinary notice {i}")).collect();
    let mut rows: Vec<Notice> = subjects
        .iter()
        .map(|s| (s.as_str(), "a body", "ops@example.com", "sent", 1, None))
        .collect();
    // The newest: markup in every text field.
    rows.push((
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "<b>admin</b>@example.com",
        "failed",
        5,
        Some("<img src=y onerror=alert(3)>"),
    ));
    insert_notifications(&app, &rows);

    let b = Browser::open("notifications-markup").await;
    app.sign_in(&b).await;
    b.click_on("#nav a[data-view=monitoring]").await;
    wait_rows(&b, 20).await;
    assert_eq!(
        first_row(&b).await,
        json!([
            "just now",
            "budget_threshold",
            "<img src=x onerror=alert(1)>",
            "<b>admin</b>@example.com",
            "failed",
            "5",
            "<img src=y onerror=alert(3)>"
        ])
    );
    b.click_on("#notif-body summary").await;
    b.wait_for("#notif-body details[open] pre").await;
    assert_eq!(
        b.text_of("#notif-body pre").await,
        "<script>alert(2)</script>"
    );
    assert!(b.find_all("img").await.is_empty(), "no img element exists");
    assert!(b.find_all("#notif-body b").await.is_empty(), "no b element");
    assert_eq!(
        b.js("return document.scripts.length;", vec![]).await,
        1,
        "only app.js"
    );
    assert_eq!(b.alert_text().await, None, "no alert() ran");
    b.js(
        "document.getElementById('notif-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("1-markup-as-text").await;

    // 23 notifications: 20, then 3.
    assert_eq!(b.text_of("#notif-page").await, "Page 1");
    b.click_on("#notif-next").await;
    wait_rows(&b, 3).await;
    assert_eq!(b.text_of("#notif-page").await, "Page 2");
    let next = b.wait_for("#notif-next").await;
    assert_eq!(
        b.attribute(&next, "disabled").await.as_deref(),
        Some("true")
    );
    assert_eq!(
        b.text_of("#notif-body tr:last-child summary").await,
        "ordinary notice 1"
    );
    b.click_on("#notif-prev").await;
    wait_rows(&b, 20).await;
    assert_eq!(
        b.text_of("#notif-body tr:first-child summary").await,
        "<img src=x onerror=alert(1)>"
    );

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_webhook_notification_shows_where_it_goes() {
    let app = TestApp::spawn().await;
    let conn = rusqlite::Connection::open(&app.db_path).expect("the database opens");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute(
        "INSERT INTO notifications (tenant_id, kind, created_at, recipients, subject, body,
             status, attempts, last_error, next_attempt_at, channel, target)
         VALUES ('demo', 'budget_threshold', ?1, '[]', 'acme reached 80%', '{}', 'sent', 1,
             NULL, ?1, 'webhook', 'https://hooks.example/fruxon')",
        [chrono::Utc::now().timestamp_millis()],
    )
    .expect("a webhook notification is written");
    drop(conn);

    let b = Browser::open("notifications-webhook").await;
    app.sign_in(&b).await;
    b.click_on("#nav a[data-view=monitoring]").await;
    wait_rows(&b, 1).await;

    assert_eq!(
        first_row(&b).await[3],
        "webhook https://hooks.example/fruxon",
        "a webhook has no recipients: the row names its target"
    );
    b.close().await;
    app.stop().await;
}
