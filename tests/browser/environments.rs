//! Settings → Environments: the list, create, rename, delete, the cap meter and diagnostics.

use serde_json::json;

use crate::app::TestApp;
use crate::webdriver::{Browser, ENTER, ESCAPE};

/// The CSS selector of an environment's row.
pub fn row(slug: &str) -> String {
    format!("#env-body tr[data-slug='{slug}']")
}

/// The CSS selector of one cell of an environment's row (1: slug, 2: name, 3: origin,
/// 4: executions, 5: last used, 6: budget, 7: actions).
fn cell(slug: &str, column: usize) -> String {
    format!("{} > :nth-child({column})", row(slug))
}

#[actix_web::test]
async fn signing_in_shows_an_auto_created_environment_with_its_execution_count() {
    let app = TestApp::spawn().await;
    app.execute_many(Some("acme_corp"), 3).await;
    app.execute_many(Some("globex"), 1).await;
    let b = Browser::open("environments-list").await;

    b.goto(&format!("{}/", app.address)).await;
    b.wait_for("#api-key").await;
    b.screenshot("1-sign-in").await;
    app.sign_in(&b).await;

    b.wait_for(&row("acme_corp")).await;
    assert_eq!(b.text_of(&cell("acme_corp", 1)).await, "acme_corp");
    assert_eq!(b.text_of(&cell("acme_corp", 3)).await, "auto");
    assert_eq!(b.text_of(&cell("acme_corp", 4)).await, "3");
    assert_eq!(b.text_of(&cell("globex", 4)).await, "1");
    let last_used = b.wait_for(&format!("{} time", cell("acme_corp", 5))).await;
    assert_eq!(b.text(&last_used).await, "just now");
    let exact = b.attribute(&last_used, "title").await.unwrap_or_default();
    let api = app.get("/v1/tenants/demo/environments/acme_corp").await;
    assert_eq!(
        exact,
        api["lastUsedAt"].as_str().unwrap(),
        "the exact time on hover"
    );
    assert_eq!(b.text_of("#tenant-name").await, "demo");
    assert_eq!(
        b.text_of("#cap-text").await,
        "2 of 1,000 environments used (0%)"
    );

    // The key is gone from the page, and nothing script-readable holds a credential.
    let stored = b
        .js(
            "return [document.getElementById('api-key').value, localStorage.length, \
             sessionStorage.length, document.cookie];",
            vec![],
        )
        .await;
    assert_eq!(stored, json!(["", 0, 0, ""]));
    b.screenshot("2-signed-in").await;

    // Sorting by a column header, and toggling its direction.
    b.click_on("#env-head button[data-sort='executionCount']")
        .await;
    b.wait_text("#env-body tr:first-child > th", "acme_corp")
        .await;
    let header = b.wait_for("#env-head th:nth-child(4)").await;
    assert_eq!(
        b.attribute(&header, "aria-sort").await.as_deref(),
        Some("descending")
    );
    b.click_on("#env-head button[data-sort='executionCount']")
        .await;
    b.wait_text("#env-body tr:first-child > th", "globex").await;

    // The filter box.
    b.fill("#env-filter", "GLOB").await;
    b.wait_until(
        "the filter to leave one row",
        "document.querySelectorAll('#env-body tr').length === 1",
    )
    .await;
    assert_eq!(b.text_of("#env-body tr > th").await, "globex");
    assert_eq!(b.text_of("#env-shown").await, "Showing 1 of 2");
    b.fill("#env-filter", "nothing_like_it").await;
    b.wait_text("#env-empty", "No environment matches “nothing_like_it”.")
        .await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn creating_an_environment_checks_the_slug_as_typed_and_shows_the_servers_verdict() {
    let app = TestApp::spawn().await;
    let b = Browser::open("environments-create").await;
    app.sign_in(&b).await;
    b.wait_text(
        "#env-empty",
        "No environments yet: they appear on the first execution that names one",
    )
    .await;
    b.screenshot("1-empty").await;

    // Checked as the user types.
    b.fill("#new-slug", "Acme-Corp").await;
    b.wait_text(
        "#slug-hint",
        "✗ The slug may not contain capital letters; try 'acme_corp'.",
    )
    .await;
    let slug_input = b.wait_for("#new-slug").await;
    assert_eq!(
        b.attribute(&slug_input, "aria-invalid").await.as_deref(),
        Some("true")
    );
    b.fill("#new-slug", "acme-corp").await;
    b.wait_text(
        "#slug-hint",
        "✗ The slug may not contain '-'; try 'acme_corp'.",
    )
    .await;
    b.fill("#new-slug", &"a".repeat(65)).await;
    b.wait_text(
        "#slug-hint",
        "✗ The slug is 65 characters long; at most 64 are allowed.",
    )
    .await;
    b.fill("#new-slug", "9lives").await;
    b.wait_text(
        "#slug-hint",
        "✗ The slug must start with a lowercase letter.",
    )
    .await;

    // The server stays the authority: a bad slug still goes out, and its message shows as is.
    b.fill("#new-slug", "acme-corp").await;
    b.screenshot("2-slug-hint").await;
    b.click_on("#create-submit").await;
    let refused = app
        .post(
            "/v1/tenants/demo/environments",
            &json!({"slug": "acme-corp"}),
        )
        .await;
    assert_eq!(refused.status, 400);
    b.wait_text("#create-alert", refused.message()).await;

    b.fill("#new-slug", "initech").await;
    b.wait_text("#slug-hint", "✓ A valid slug.").await;
    b.fill("#new-name", "Initech Inc.").await;
    b.click_on("#create-submit").await;
    b.wait_for(&row("initech")).await;
    assert_eq!(b.text_of(&cell("initech", 2)).await, "Initech Inc.");
    assert_eq!(b.text_of(&cell("initech", 3)).await, "explicit");
    assert_eq!(b.text_of(&cell("initech", 4)).await, "0");
    assert_eq!(b.text_of(&cell("initech", 5)).await, "never");
    assert_eq!(
        b.text_of("#env-status").await,
        "Created environment initech."
    );
    let alert = b.try_find("#create-alert").await.expect("the alert region");
    assert!(!b.displayed(&alert).await, "the earlier error is cleared");
    let created = app.get("/v1/tenants/demo/environments/initech").await;
    assert_eq!(created["displayName"], "Initech Inc.");
    assert_eq!(created["origin"], "explicit");
    assert_eq!(
        b.js("return document.getElementById('new-slug').value;", vec![])
            .await,
        "",
        "the form is reset after a create"
    );

    // Creating it again: the server's 409 message, as is.
    b.fill("#new-slug", "initech").await;
    b.click_on("#create-submit").await;
    let exists = app
        .post("/v1/tenants/demo/environments", &json!({"slug": "initech"}))
        .await;
    assert_eq!(exists.status, 409);
    b.wait_text("#create-alert", exists.message()).await;
    b.screenshot("3-created").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn renaming_in_place_saves_on_enter_or_blur_and_cancels_on_escape() {
    let app = TestApp::spawn().await;
    app.execute(Some("acme_corp"), None).await;
    let b = Browser::open("environments-rename").await;
    app.sign_in(&b).await;
    let name = format!("{} .name-button", row("acme_corp"));
    let input = format!("{} .name-input", row("acme_corp"));
    let saved_name = || async {
        app.get("/v1/tenants/demo/environments/acme_corp").await["displayName"].clone()
    };

    // Enter on the focused name starts editing; Enter saves.
    b.focus(&name).await;
    b.press(ENTER).await;
    let field = b.wait_for(&input).await;
    b.screenshot("1-editing").await;
    b.send_keys(&field, "Acme Corporation").await;
    b.press(ENTER).await;
    b.wait_text(&name, "Acme Corporation").await;
    assert_eq!(saved_name().await, "Acme Corporation");
    assert_eq!(
        b.text_of("#env-status").await,
        "Renamed acme_corp to “Acme Corporation”."
    );

    // Escape cancels.
    b.click_on(&name).await;
    let field = b.wait_for(&input).await;
    b.send_keys(&field, "Something else").await;
    b.press(ESCAPE).await;
    b.wait_text(&name, "Acme Corporation").await;
    assert_eq!(saved_name().await, "Acme Corporation");

    // Leaving the field saves.
    b.click_on(&name).await;
    // The text starts selected, so typing replaces it (WebDriver's "clear" would blur).
    let field = b.wait_for(&input).await;
    b.send_keys(&field, "Acme Corp (EU)").await;
    b.click_on("#env-filter").await;
    b.wait_text(&name, "Acme Corp (EU)").await;
    assert_eq!(saved_name().await, "Acme Corp (EU)");
    b.screenshot("2-renamed").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn deleting_asks_first_and_says_the_executions_keep_their_slug() {
    let app = TestApp::spawn().await;
    app.execute_many(Some("acme_corp"), 2).await;
    app.execute(Some("globex"), None).await;
    let b = Browser::open("environments-delete").await;
    app.sign_in(&b).await;
    let delete = "button[aria-label='Delete environment acme_corp']";

    b.click_on(delete).await;
    b.wait_for("#delete-dialog[open]").await;
    let text = b.text_of("#delete-text").await;
    assert!(
        text.starts_with("Delete the environment acme_corp? Its 2 executions keep the slug"),
        "the confirmation says the executions keep their slug: {text}"
    );
    b.screenshot("1-confirm").await;
    b.click_on("#delete-cancel").await;
    b.wait_until(
        "the dialog to close",
        "!document.getElementById('delete-dialog').open",
    )
    .await;
    assert!(b.try_find(&row("acme_corp")).await.is_some());
    assert_eq!(app.environment_slugs().await, ["acme_corp", "globex"]);

    b.click_on(delete).await;
    b.wait_for("#delete-dialog[open]").await;
    b.click_on("#delete-confirm").await;
    b.wait_until(
        "the row to go",
        "!document.querySelector(\"#env-body tr[data-slug='acme_corp']\")",
    )
    .await;
    b.wait_text(
        "#env-status",
        "Deleted environment acme_corp; its executions keep the slug.",
    )
    .await;
    assert_eq!(app.environment_slugs().await, ["globex"]);
    let kept = app
        .get("/v1/tenants/demo/executions?environment=acme_corp")
        .await;
    assert_eq!(kept["executions"].as_array().unwrap().len(), 2);
    b.screenshot("2-deleted").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn the_cap_meter_warns_at_80_percent_turns_red_at_the_cap_and_shows_diagnostics() {
    let app = TestApp::spawn().await;
    app.cli(&["tenant", "set-cap", "demo", "5"]);
    for slug in [
        "acme_corp",
        "globex",
        "req_1718000000123",
        "req_1718000000456",
    ] {
        app.execute(Some(slug), None).await;
    }
    let b = Browser::open("environments-cap").await;
    app.sign_in(&b).await;

    b.wait_text("#cap-text", "4 of 5 environments used (80%)")
        .await;
    let meter = b.wait_for("#cap-meter").await;
    assert_eq!(
        b.attribute(&meter, "class").await.as_deref(),
        Some("meter meter-warn")
    );
    assert!(b.text_of("#cap-note").await.contains("at least 80% full"));

    b.click_on("#diag-toggle").await;
    b.wait_for("#diag-panel .diag-list").await;
    let toggle = b.wait_for("#diag-toggle").await;
    assert_eq!(
        b.attribute(&toggle, "aria-expanded").await.as_deref(),
        Some("true")
    );
    let panel = b.text_of("#diag-panel").await;
    assert!(panel.contains("Suspicious slugs"), "{panel}");
    assert!(panel.contains("req_1718000000123"), "{panel}");
    assert!(panel.contains("looks like a timestamp"), "{panel}");
    assert!(panel.contains("Most recent slugs"), "{panel}");
    assert!(panel.contains("globex"), "{panel}");
    b.screenshot("1-warning-and-diagnostics").await;

    b.fill("#new-slug", "initech").await;
    b.click_on("#create-submit").await;
    b.wait_text("#cap-text", "5 of 5 environments used (100%)")
        .await;
    assert_eq!(
        b.attribute(&meter, "class").await.as_deref(),
        Some("meter meter-full")
    );
    assert!(b.text_of("#cap-note").await.contains("The cap is reached"));

    // At the cap the server refuses, and says why.
    b.fill("#new-slug", "umbrella").await;
    b.click_on("#create-submit").await;
    let refused = app
        .post(
            "/v1/tenants/demo/environments",
            &json!({"slug": "umbrella"}),
        )
        .await;
    assert_eq!(refused.status, 400);
    b.wait_text("#create-alert", refused.message()).await;
    b.screenshot("2-at-the-cap").await;

    b.close().await;
    app.stop().await;
}
