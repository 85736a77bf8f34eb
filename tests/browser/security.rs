//! Sessions, safe rendering and cross-site request forgery, seen from a real browser.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::app::TestApp;
use crate::environments::row;
use crate::webdriver::Browser;

/// The markup that must show up as characters, never as an element.
const XSS: &str = "<img src=x onerror=alert(1)>";

#[actix_web::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.execute(Some("acme_corp"), None).await;
    let b = Browser::open("session-sign-out").await;
    app.sign_in(&b).await;

    // The cookie is out of the page's reach, and a reload finds the session without the key.
    let cookies = b.cookies().await;
    let cookie = cookies
        .iter()
        .find(|c| c["name"] == "fruxon_session")
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    let old = cookie["value"].as_str().unwrap().to_string();
    b.refresh().await;
    b.wait_for(&row("acme_corp")).await;
    assert_eq!(b.text_of("#tenant-name").await, "demo");

    b.click_on("#sign-out").await;
    b.wait_text("#signin-note", "You are signed out.").await;
    b.wait_for("#api-key").await;
    assert!(
        b.try_find(&row("acme_corp")).await.is_none(),
        "no data is left on screen"
    );
    b.screenshot("1-signed-out").await;

    // The page's own requests are now refused...
    let status = b
        .js_async(
            "const done = arguments[arguments.length - 1];\
             fetch('/v1/tenants/demo/environments').then(r => done(r.status));",
        )
        .await;
    assert_eq!(status, 401);
    // ...and so is the old cookie, replayed by hand: the session ended on the server.
    let cookie_header = format!("fruxon_session={old}");
    for path in ["/v1/tenants/demo/environments", "/v1/session"] {
        let reply = app
            .request("GET", path, None, &[("Cookie", &cookie_header)], None)
            .await;
        assert_eq!(
            reply.status, 401,
            "{path} with the old cookie: {}",
            reply.body
        );
    }

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn an_execute_role_key_cannot_sign_in_and_the_page_says_why() {
    let app = TestApp::spawn().await;
    let key = app.create_key("execute");
    let b = Browser::open("session-execute-key").await;
    b.goto(&format!("{}/", app.address)).await;

    b.fill("#api-key", &key).await;
    b.click_on("#signin-form button[type=submit]").await;
    let refused = app
        .request(
            "POST",
            "/v1/session",
            None,
            &[],
            Some(&json!({"apiKey": key})),
        )
        .await;
    assert_eq!(refused.status, 403);
    b.wait_text("#signin-alert", refused.message()).await;
    assert_eq!(
        b.js("return document.getElementById('api-key').value;", vec![])
            .await,
        "",
        "the key does not linger in the form"
    );
    let nav = b.try_find("#nav").await.expect("the nav");
    assert!(!b.displayed(&nav).await, "still signed out");
    assert!(b.cookies().await.is_empty(), "no session cookie was set");
    b.screenshot("1-refused").await;

    // An unknown key: the server's 401 message.
    b.fill("#api-key", "not-a-real-key").await;
    b.click_on("#signin-form button[type=submit]").await;
    let unknown = app
        .request(
            "POST",
            "/v1/session",
            None,
            &[],
            Some(&json!({"apiKey": "not-a-real-key"})),
        )
        .await;
    assert_eq!(unknown.status, 401);
    b.wait_text("#signin-alert", unknown.message()).await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn markup_in_names_sessions_and_outputs_renders_as_text() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/tenants/demo/environments",
            &json!({"slug": "acme_corp", "displayName": XSS}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    app.execute_body(&json!({
        "parameters": {"note": "<script>alert(3)</script>"},
        "sessionId": "<img src=y onerror=alert(2)>",
        "environmentSlug": "acme_corp",
    }))
    .await;
    let b = Browser::open("xss").await;
    app.sign_in(&b).await;

    let name = format!("{} .name-button", row("acme_corp"));
    b.wait_text(&name, XSS).await;
    assert_eq!(b.text_of(&name).await, XSS);
    let cell = format!("{} > :nth-child(2)", row("acme_corp"));
    assert_eq!(b.text_of(&cell).await, XSS);
    assert!(b.find_all("img").await.is_empty(), "no img element exists");
    b.screenshot("1-environments").await;

    b.click_on("#nav a[data-view=monitoring]").await;
    b.wait_for("#exec-body tr").await;
    assert_eq!(
        b.text_of("#exec-body tr > :nth-child(4)").await,
        "<img src=y onerror=alert(2)>"
    );
    let output = b.text_of("#exec-body tr > :nth-child(8)").await;
    assert!(output.contains("<script>alert(3)</script>"), "{output}");
    assert!(b.find_all("img").await.is_empty(), "no img element exists");
    assert_eq!(
        b.js("return document.scripts.length;", vec![]).await,
        1,
        "only app.js"
    );
    assert_eq!(b.alert_text().await, None, "no alert() ran");
    b.screenshot("2-monitoring").await;

    b.close().await;
    app.stop().await;
}

/// A page on another origin that, once opened, POSTs to fruxon twice: with `fetch` and
/// credentials, then with an auto-submitted form whose text body is valid JSON.
fn forging_page(target: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><title>win a prize</title></head><body>
<form id="forged" method="POST" action="{target}" enctype="text/plain">
<input type="hidden" name='{{"slug":"forged_form","displayName":"x' value='y"}}'>
</form>
<script>
fetch("{target}", {{
  method: "POST", credentials: "include", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{slug: "forged_fetch"}})
}}).catch(() => null).then(() => {{
  document.title = "fetch sent";
  document.getElementById("forged").submit();
}});
</script>
</body></html>"#
    )
}

#[actix_web::test]
async fn a_forged_cross_site_post_is_refused() {
    let app = TestApp::spawn().await;
    app.execute(Some("acme_corp"), None).await;
    let target = format!("{}/v1/tenants/demo/environments", app.address);
    let page = forging_page(&target);
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the other site");
    let other = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let server = HttpServer::new(move || {
        let page = page.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let page = page.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(page)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("the other site listens")
    .run();
    let other_site = server.handle();
    actix_web::rt::spawn(server);

    let b = Browser::open("csrf").await;
    app.sign_in(&b).await;
    b.goto(&other).await;
    // The form's submission navigates the browser to fruxon's reply.
    b.wait_until(
        "the forged form to be submitted",
        &format!("location.href === {}", json!(target)),
    )
    .await;
    let reply = b.text_of("body").await;
    assert!(
        reply.contains("\"code\":403"),
        "the form POST is refused: {reply}"
    );
    b.screenshot("1-forged-form-reply").await;

    assert_eq!(
        app.environment_slugs().await,
        ["acme_corp"],
        "neither forged request created an environment"
    );
    // The session itself was live all along: the page still works when opened directly.
    b.goto(&format!("{}/", app.address)).await;
    b.wait_for(&row("acme_corp")).await;

    b.close().await;
    other_site.stop(true).await;
    app.stop().await;
}
