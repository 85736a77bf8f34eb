//! The page at phone width: nothing overflows the window, forms stack, tables scroll.

use serde_json::json;

use crate::app::TestApp;
use crate::environments::row;
use crate::webdriver::Browser;

/// Whether the page is wider than the window (the thing a phone user must never see).
const OVERFLOW: &str = "return [document.documentElement.scrollWidth, window.innerWidth];";

/// The outermost elements that stick out of the window, to say what overflows.
const CULPRITS: &str = "return Array.from(document.querySelectorAll('body *'))\
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)\
    .filter(e => !(e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))\
    .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' +\
      Math.round(e.getBoundingClientRect().right));";

async fn assert_no_horizontal_overflow(b: &Browser, what: &str) {
    let sizes = b.js(OVERFLOW, vec![]).await;
    let (scroll, inner) = (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap());
    if scroll > inner {
        let culprits = b.js(CULPRITS, vec![]).await;
        let message =
            format!("{what}: the page is {scroll} px wide in a {inner} px window: {culprits}");
        panic!("{}", b.failure(&message).await);
    }
}

#[actix_web::test]
async fn the_page_fits_a_phone_width_window() {
    let app = TestApp::spawn().await;
    let long_slug = format!("customer_{}", "abcdefghij".repeat(5));
    app.post(
        "/v1/tenants/demo/environments",
        &json!({"slug": long_slug, "displayName": "A customer with a rather long name, Ltd."}),
    )
    .await;
    app.execute(
        Some(&long_slug),
        Some("a-session-id-that-goes-on-and-on-and-on"),
    )
    .await;
    app.execute_many(Some("acme_corp"), 2).await;
    app.execute(None, None).await;

    let b = Browser::open("phone").await;
    b.set_window_size(390, 844).await;
    let inner = b.js("return window.innerWidth;", vec![]).await;
    assert!(
        inner.as_i64().unwrap() <= 400,
        "the window is phone-sized: {inner}"
    );

    b.goto(&format!("{}/", app.address)).await;
    b.wait_for("#api-key").await;
    assert_no_horizontal_overflow(&b, "sign-in").await;
    b.screenshot("1-sign-in").await;

    app.sign_in(&b).await;
    b.wait_for(&row(&long_slug)).await;
    assert_no_horizontal_overflow(&b, "environments").await;
    // The create form stacks: the display name sits below the slug, not beside it.
    let stacked = b
        .js(
            "const s = document.getElementById('new-slug').getBoundingClientRect();\
             const n = document.getElementById('new-name').getBoundingClientRect();\
             return n.top > s.bottom;",
            vec![],
        )
        .await;
    assert_eq!(stacked, true, "the create form stacks");
    // The table scrolls inside its own box instead of widening the page.
    let scrolls = b
        .js(
            "const w = document.querySelector('#env-table').parentElement;\
             return w.scrollWidth > w.clientWidth;",
            vec![],
        )
        .await;
    assert_eq!(scrolls, true, "the environments table scrolls horizontally");
    b.screenshot("2-environments").await;
    b.js(
        "document.getElementById('list-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("2-environments-table").await;

    b.click_on("#diag-toggle").await;
    b.wait_for("#diag-panel .diag-list").await;
    assert_no_horizontal_overflow(&b, "diagnostics").await;

    b.click_on("#nav a[data-view=monitoring]").await;
    b.wait_for("#exec-body tr").await;
    b.wait_for("#cost-chart svg").await;
    assert_no_horizontal_overflow(&b, "monitoring").await;
    b.screenshot("3-monitoring").await;
    b.js(
        "document.getElementById('cost-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("4-cost-chart").await;

    b.click_on("#nav a[data-view=environments]").await;
    b.click_on(&format!(
        "button[aria-label='Delete environment {long_slug}']"
    ))
    .await;
    b.wait_for("#delete-dialog[open]").await;
    assert_no_horizontal_overflow(&b, "delete dialog").await;
    b.screenshot("5-delete-dialog").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn budgets_and_notifications_fit_a_phone_width_window() {
    let app = TestApp::spawn().await;
    app.cli(&["tenant", "set-cap", "demo", "5"]);
    let long_slug = format!("customer_{}", "abcdefghij".repeat(5));
    app.post(
        "/v1/tenants/demo/environments",
        &json!({"slug": long_slug, "displayName": "A customer with a rather long name, Ltd."}),
    )
    .await;
    let put = app
        .put(
            &format!("/v1/tenants/demo/environments/{long_slug}/budget"),
            &json!({"limitUsd": 250, "limitExecutions": 1000, "period": "month",
                    "enforce": true}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    for slug in [long_slug.as_str(), "acme_corp", "globex", "initech"] {
        app.execute(Some(slug), None).await;
    }
    crate::notifications::delivered_notifications(&app).await;

    let b = Browser::open("phone-budgets").await;
    b.set_window_size(390, 844).await;
    app.sign_in(&b).await;
    b.wait_for(&format!("{} .budget-line", row(&long_slug)))
        .await;
    b.wait_for("#budget-settings dd").await;
    assert_no_horizontal_overflow(&b, "environments with budgets").await;
    b.js(
        "document.getElementById('list-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("1-budget-column").await;
    b.js(
        "document.getElementById('budget-settings-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("2-budget-settings").await;

    b.click_on(&format!(
        "button[aria-label='Budget of environment {long_slug}']"
    ))
    .await;
    b.wait_for("#budget-dialog[open]").await;
    assert_no_horizontal_overflow(&b, "budget form").await;
    // The form stacks: the executions limit sits below the dollar limit.
    let stacked = b
        .js(
            "const u = document.getElementById('budget-usd').getBoundingClientRect();\
             const r = document.getElementById('budget-runs').getBoundingClientRect();\
             return r.top > u.bottom;",
            vec![],
        )
        .await;
    assert_eq!(stacked, true, "the budget form stacks");
    b.screenshot("3-budget-form").await;
    b.click_on("#budget-cancel").await;

    b.click_on("#nav a[data-view=monitoring]").await;
    b.wait_for("#notif-body tr").await;
    b.click_on("#notif-body summary").await;
    b.wait_for("#notif-body details[open] pre").await;
    assert_no_horizontal_overflow(&b, "notifications").await;
    b.js(
        "document.getElementById('notif-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("4-notifications").await;

    b.close().await;
    app.stop().await;
}
