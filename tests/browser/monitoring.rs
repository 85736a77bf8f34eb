//! Monitoring: the executions list with its filters and pages, and the cost chart.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::environments::row;
use crate::webdriver::Browser;

/// The environment column of every execution row shown.
async fn environments_shown(b: &Browser) -> Value {
    b.js(
        "return Array.from(document.querySelectorAll('#exec-body tr'))\
         .map(r => r.children[2].textContent);",
        vec![],
    )
    .await
}

/// Waits for the executions table to show `n` rows.
async fn wait_rows(b: &Browser, n: usize) {
    b.wait_until(
        &format!("{n} execution rows"),
        &format!(
            "!document.querySelector('#exec-table').hasAttribute('aria-busy') && \
             document.querySelectorAll('#exec-body tr').length === {n}"
        ),
    )
    .await;
}

#[actix_web::test]
async fn filtering_executions_by_environment_shows_only_its_runs() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.execute(Some("acme_corp"), Some("conv-7f2a")).await;
    }
    app.execute_many(Some("globex"), 2).await;
    app.execute(None, None).await;
    let b = Browser::open("monitoring-filter").await;
    app.sign_in(&b).await;

    // An environment's execution count links to its executions.
    b.click_on(&format!("{} a", row("globex"))).await;
    b.wait_for("#monitoring-view").await;
    wait_rows(&b, 2).await;
    assert_eq!(environments_shown(&b).await, json!(["globex", "globex"]));
    assert_eq!(
        b.js(
            "return document.getElementById('f-environment').value;",
            vec![]
        )
        .await,
        "globex"
    );
    b.screenshot("1-globex").await;

    // Typing a filter and applying it.
    b.fill("#f-environment", "acme_corp").await;
    b.click_on("#exec-filters button[type=submit]").await;
    wait_rows(&b, 3).await;
    assert_eq!(
        environments_shown(&b).await,
        json!(["acme_corp", "acme_corp", "acme_corp"])
    );
    assert!(
        b.current_url()
            .await
            .ends_with("#/monitoring?environment=acme_corp")
    );

    // Untagged runs.
    b.fill("#f-environment", "none").await;
    b.click_on("#exec-filters button[type=submit]").await;
    wait_rows(&b, 1).await;
    assert_eq!(environments_shown(&b).await, json!(["(untagged)"]));

    // By session, and by status with nothing to show.
    b.fill("#f-environment", "").await;
    b.fill("#f-session", "conv-7f2a").await;
    b.click_on("#exec-filters button[type=submit]").await;
    wait_rows(&b, 3).await;
    b.click_on("#f-status option[value=failed]").await;
    b.click_on("#exec-filters button[type=submit]").await;
    b.wait_text("#exec-empty", "No executions match these filters.")
        .await;

    // A filter the server refuses: its message, as is.
    b.click_on("#exec-clear").await;
    wait_rows(&b, 6).await;
    b.fill("#f-environment", "Acme-Corp").await;
    b.click_on("#exec-filters button[type=submit]").await;
    let refused = app
        .request(
            "GET",
            "/v1/tenants/demo/executions?environment=Acme-Corp",
            Some(&app.admin_key),
            &[],
            None,
        )
        .await;
    assert_eq!(refused.status, 400);
    b.wait_text("#exec-alert", refused.message()).await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn the_executions_list_pages_forward_and_back() {
    let app = TestApp::spawn().await;
    app.execute_many(Some("acme_corp"), 30).await;
    let b = Browser::open("monitoring-paging").await;
    app.sign_in(&b).await;
    b.click_on("#nav a[data-view=monitoring]").await;
    wait_rows(&b, 25).await;
    let first_page_top = b.text_of("#exec-body tr:first-child td:last-child").await;
    let prev = b.wait_for("#exec-prev").await;
    assert_eq!(
        b.attribute(&prev, "disabled").await.as_deref(),
        Some("true")
    );
    assert_eq!(b.text_of("#exec-page").await, "Page 1");

    b.click_on("#exec-next").await;
    wait_rows(&b, 5).await;
    assert_eq!(b.text_of("#exec-page").await, "Page 2");
    let next = b.wait_for("#exec-next").await;
    assert_eq!(
        b.attribute(&next, "disabled").await.as_deref(),
        Some("true")
    );
    b.screenshot("1-page-2").await;

    b.click_on("#exec-prev").await;
    wait_rows(&b, 25).await;
    assert_eq!(
        b.text_of("#exec-body tr:first-child td:last-child").await,
        first_page_top
    );

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn the_cost_chart_draws_one_bar_per_environment() {
    let app = TestApp::spawn().await;
    app.execute_many(Some("acme_corp"), 3).await;
    app.execute_many(Some("initech"), 2).await;
    app.execute_many(Some("globex"), 1).await;
    app.execute(None, None).await;
    let b = Browser::open("monitoring-chart").await;
    app.sign_in(&b).await;
    b.click_on("#nav a[data-view=monitoring]").await;

    b.wait_for("#cost-chart svg").await;
    let bars = b
        .js(
            "return Array.from(document.querySelectorAll('#cost-chart svg rect.bar'))\
             .map(r => [r.namespaceURI, r.dataset.environment, Number(r.getAttribute('width')),\
                        r.classList.contains('bar-untagged')]);",
            vec![],
        )
        .await;
    let bars = bars.as_array().expect("a list of bars");
    assert_eq!(
        bars.len(),
        4,
        "one bar per environment, untagged included: {bars:?}"
    );
    let svg_ns = "http://www.w3.org/2000/svg";
    assert!(bars.iter().all(|bar| bar[0] == svg_ns), "{bars:?}");
    let width = |slug: &str| {
        bars.iter()
            .find(|bar| bar[1] == slug)
            .unwrap_or_else(|| panic!("no bar for {slug:?}: {bars:?}"))[2]
            .as_f64()
            .unwrap()
    };
    // Same parameters on every run, so cost follows the number of runs.
    assert!(width("acme_corp") > width("initech"), "{bars:?}");
    assert!(width("initech") > width("globex"), "{bars:?}");
    assert!(width("globex") > 0.0, "{bars:?}");
    let untagged: Vec<_> = bars.iter().filter(|bar| bar[3] == true).collect();
    assert_eq!(untagged.len(), 1, "{bars:?}");
    assert_eq!(untagged[0][1], "");
    let labels = b
        .js(
            "return Array.from(document.querySelectorAll('#cost-chart text.bar-label'))\
             .map(t => t.textContent).sort();",
            vec![],
        )
        .await;
    assert_eq!(
        labels,
        json!(["(untagged)", "acme_corp", "globex", "initech"])
    );

    // The same numbers as a table, with the totals.
    let rows = b
        .js(
            "return Array.from(document.querySelectorAll('#cost-body tr'))\
             .map(r => [r.children[0].textContent, r.children[1].textContent]);",
            vec![],
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 4, "{rows}");
    assert!(
        rows.as_array()
            .unwrap()
            .contains(&json!(["(untagged)", "1"])),
        "{rows}"
    );
    assert_eq!(rows[0], json!(["acme_corp", "3"]));
    assert_eq!(b.text_of("#cost-foot td:nth-child(2)").await, "7");
    let summary = app
        .get("/v1/tenants/demo/agents/support-bot/environments:summary")
        .await;
    let total = summary["totals"]["totalCostUsd"].as_f64().unwrap();
    let shown = b.text_of("#cost-foot td:nth-child(3)").await;
    let shown: f64 = shown
        .trim_start_matches('$')
        .parse()
        .expect("a dollar amount");
    assert!((shown - total).abs() < 1e-9, "{shown} vs {total}");
    b.js(
        "document.getElementById('cost-title').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("1-chart").await;

    b.close().await;
    app.stop().await;
}
