//! `GET /healthz`: no key needed, 200 while the database answers.

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn health_answers_ok_without_a_key() {
    let app = spawn_app().await;

    let reply = app.send("GET", "/healthz", None, None).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[actix_web::test]
async fn health_ignores_a_bad_key_and_stores_nothing() {
    let app = spawn_app().await;
    let before = app.stored();

    let reply = app
        .send("GET", "/healthz", Some("fx_not_a_key"), None)
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, json!({"status": "ok"}));
    assert_eq!(app.stored(), before);
}
