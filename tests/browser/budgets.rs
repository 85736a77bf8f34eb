//! Budgets: each environment's status in the Budget column, and the form that sets or removes
//! an environment's budget.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::environments::row;
use crate::webdriver::Browser;

/// The markup that must show up as characters, never as an element.
const XSS: &str = "<img src=x onerror=alert(1)>";

fn budget_path(slug: &str) -> String {
    format!("/v1/tenants/demo/environments/{slug}/budget")
}

/// The selector of an environment's Budget cell.
fn budget_cell(slug: &str) -> String {
    format!("{} > td.budget-cell", row(slug))
}

/// The selector of the button that opens an environment's budget form.
fn budget_button(slug: &str) -> String {
    format!("button[aria-label='Budget of environment {slug}']")
}

/// The Budget cell of `slug` as [usage lines, percent, badge, meter value, meter class].
async fn budget_shown(b: &Browser, slug: &str) -> Value {
    let script = format!(
        "const c = document.querySelector({cell});\
         const text = (s) => {{ const e = c.querySelector(s); return e && e.textContent; }};\
         const meter = c.querySelector('[role=meter]');\
         return [Array.from(c.querySelectorAll('.budget-line')).map(l => l.textContent),\
                 text('.budget-percent'), text('.badge'),\
                 meter && meter.getAttribute('aria-valuenow'),\
                 meter && meter.getAttribute('class')];",
        cell = json!(budget_cell(slug))
    );
    b.js(&script, vec![]).await
}

/// The budget form's fields: [limit USD, limit executions, period, thresholds, enforce].
async fn form_values(b: &Browser) -> Value {
    b.js(
        "const v = (id) => document.getElementById(id);\
         return [v('budget-usd').value, v('budget-runs').value, v('budget-period').value,\
                 v('budget-thresholds').value, v('budget-enforce').checked];",
        vec![],
    )
    .await
}

async fn wait_dialog_closed(b: &Browser) {
    b.wait_until(
        "the budget form to close",
        "!document.getElementById('budget-dialog').open",
    )
    .await;
}

#[actix_web::test]
async fn a_budget_set_in_the_form_shows_its_status_in_the_table_and_is_stored_as_entered() {
    let app = TestApp::spawn().await;
    app.execute_many(Some("acme_corp"), 3).await;
    app.execute(Some("globex"), None).await;
    let b = Browser::open("budgets-form").await;
    app.sign_in(&b).await;
    b.wait_for(&row("acme_corp")).await;
    assert_eq!(b.text_of(&budget_cell("acme_corp")).await, "—");
    let header = b
        .js(
            "return document.querySelector('#env-head th:nth-child(6) button').dataset.sort;",
            vec![],
        )
        .await;
    assert_eq!(header, "budget", "the Budget column follows Last used");

    b.click_on(&budget_button("acme_corp")).await;
    b.wait_for("#budget-dialog[open]").await;
    assert_eq!(
        b.text_of("#budget-title").await,
        "Set a budget for acme_corp"
    );
    assert_eq!(
        form_values(&b).await,
        json!(["", "", "month", "50, 80, 100", false]),
        "a new budget starts from the defaults"
    );
    let focused = b.js("return document.activeElement.id;", vec![]).await;
    assert_eq!(focused, "budget-usd", "the focus moves into the form");

    // Without a limit the server refuses, and the page shows its message as is.
    b.click_on("#budget-save").await;
    let refused = app
        .put(
            &budget_path("acme_corp"),
            &json!({"limitUsd": null, "limitExecutions": null, "period": "month",
                    "thresholds": [50, 80, 100], "enforce": false}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    b.wait_text("#budget-alert", refused.message()).await;
    b.screenshot("1-server-error").await;

    // A threshold that is not a number is caught before anything is sent.
    b.fill("#budget-thresholds", "50, lots").await;
    b.click_on("#budget-save").await;
    b.wait_text(
        "#budget-alert",
        "“lots” is not a whole percentage; write them like 50, 80, 100.",
    )
    .await;

    b.fill("#budget-usd", "500").await;
    b.fill("#budget-runs", "100").await;
    b.click_on("#budget-period option[value=week]").await;
    b.fill("#budget-thresholds", "25, 75").await;
    b.click_on("#budget-enforce").await;
    assert_eq!(
        form_values(&b).await,
        json!(["500", "100", "week", "25, 75", true])
    );
    b.screenshot("2-filled-in").await;
    b.click_on("#budget-save").await;
    wait_dialog_closed(&b).await;
    b.wait_text("#env-status", "Saved the budget of acme_corp.")
        .await;

    // Stored with the values entered.
    let stored = app.get(&budget_path("acme_corp")).await;
    assert_eq!(
        stored,
        json!({"environmentSlug": "acme_corp", "agent": null, "limitUsd": 500.0,
               "limitExecutions": 100, "period": "week", "thresholds": [25, 75],
               "enforce": true})
    );

    // Its status in the table: the period's spend and runs, the bar, enforced.
    let status = app
        .get(&format!("{}:status", budget_path("acme_corp")))
        .await;
    let shown = budget_shown(&b, "acme_corp").await;
    let lines = shown[0].as_array().expect("usage lines");
    assert_eq!(lines.len(), 2, "{shown}");
    let first = lines[0].as_str().unwrap();
    let spent = first
        .strip_suffix(" / $500 this week")
        .and_then(|s| s.strip_prefix('$'))
        .unwrap_or_else(|| panic!("dollars of the week: {first}"));
    let spent: f64 = spent.parse().expect("an amount");
    assert!(
        (spent - status["spentUsd"].as_f64().unwrap()).abs() < 1e-9,
        "{spent} vs {status}"
    );
    assert!(spent > 0.0, "the 3 runs of this week count: {status}");
    assert_eq!(lines[1], "3 / 100 runs");
    assert_eq!(shown[1], "3%");
    assert_eq!(shown[2], "enforced");
    assert_eq!(shown[3], "3");
    assert_eq!(shown[4], "meter meter-small meter-ok");
    assert_eq!(b.text_of(&budget_cell("globex")).await, "—");
    // The focus comes back to the row the form was opened from.
    let focused = b
        .js("return document.activeElement.dataset.budget;", vec![])
        .await;
    assert_eq!(focused, "acme_corp");
    b.screenshot("3-status-in-table").await;

    // Sorting by the Budget column puts the environment with a budget first.
    b.click_on("#env-head button[data-sort='budget']").await;
    b.wait_text("#env-body tr:first-child > th", "acme_corp")
        .await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn removing_a_budget_in_the_form_clears_its_status_and_deletes_it() {
    let app = TestApp::spawn().await;
    app.execute(Some("acme_corp"), None).await;
    let put = app
        .put(
            &budget_path("acme_corp"),
            &json!({"limitUsd": 12.5, "period": "day", "thresholds": [90], "enforce": false}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let b = Browser::open("budgets-remove").await;
    app.sign_in(&b).await;
    b.wait_for(&row("acme_corp")).await;
    let shown = budget_shown(&b, "acme_corp").await;
    assert!(
        shown[0][0].as_str().unwrap().ends_with(" / $12.50 today"),
        "{shown}"
    );
    assert_eq!(shown[2], "alert only");

    // The form opens with the stored budget; Cancel changes nothing.
    b.click_on(&budget_button("acme_corp")).await;
    b.wait_for("#budget-dialog[open]").await;
    assert_eq!(b.text_of("#budget-title").await, "Budget of acme_corp");
    assert_eq!(
        form_values(&b).await,
        json!(["12.5", "", "day", "90", false])
    );
    let current = b.text_of("#budget-current").await;
    assert!(current.starts_with("Used today: $"), "{current}");
    assert!(current.contains("of $12.50"), "{current}");
    assert!(current.contains("time zone, UTC."), "{current}");
    b.screenshot("1-edit").await;
    b.click_on("#budget-cancel").await;
    wait_dialog_closed(&b).await;
    assert_eq!(app.try_get(&budget_path("acme_corp")).await.status, 200);

    b.click_on(&budget_button("acme_corp")).await;
    b.click_on("#budget-remove").await;
    wait_dialog_closed(&b).await;
    b.wait_text("#env-status", "Removed the budget of acme_corp.")
        .await;
    b.wait_text(&budget_cell("acme_corp"), "—").await;
    let gone = app.try_get(&budget_path("acme_corp")).await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // With no budget left, the form offers to set one and has nothing to remove.
    b.click_on(&budget_button("acme_corp")).await;
    b.wait_for("#budget-dialog[open]").await;
    assert_eq!(
        b.text_of("#budget-title").await,
        "Set a budget for acme_corp"
    );
    let remove = b.try_find("#budget-remove").await.expect("the button");
    assert!(!b.displayed(&remove).await, "nothing to remove");
    b.screenshot("2-removed").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn an_enforced_budget_of_two_runs_set_through_the_api_shows_its_usage_after_one_run() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/tenants/demo/environments",
            &json!({"slug": "acme_corp"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let put = app
        .put(
            &budget_path("acme_corp"),
            &json!({"limitUsd": null, "limitExecutions": 2, "period": "month",
                    "enforce": true}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    app.execute(Some("acme_corp"), None).await;

    let b = Browser::open("budgets-enforced").await;
    app.sign_in(&b).await;
    b.wait_for(&row("acme_corp")).await;
    assert_eq!(
        budget_shown(&b, "acme_corp").await,
        json!([
            ["1 / 2 runs this month"],
            "50%",
            "enforced",
            "50",
            "meter meter-small meter-ok"
        ])
    );
    b.screenshot("1-one-of-two").await;

    // The second run uses it up, and the third is refused.
    app.execute(Some("acme_corp"), None).await;
    let refused = app
        .post(
            "/v1/tenants/demo/agents/support-bot:execute",
            &json!({"parameters": {"question": "?"}, "environmentSlug": "acme_corp"}),
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    b.refresh().await;
    b.wait_for(&row("acme_corp")).await;
    b.wait_until(
        "the budget to read 2 of 2",
        &format!(
            "document.querySelector({}).textContent.includes('2 / 2 runs')",
            json!(budget_cell("acme_corp"))
        ),
    )
    .await;
    assert_eq!(
        budget_shown(&b, "acme_corp").await,
        json!([
            ["2 / 2 runs this month"],
            "100%",
            "enforced",
            "100",
            "meter meter-small meter-full"
        ])
    );
    b.screenshot("2-used-up").await;

    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_display_name_with_markup_stays_text_in_the_budget_column_and_form() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/tenants/demo/environments",
            &json!({"slug": "acme_corp", "displayName": XSS}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let put = app
        .put(
            &budget_path("acme_corp"),
            &json!({"limitUsd": 10, "period": "month", "enforce": true}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let b = Browser::open("budgets-xss").await;
    app.sign_in(&b).await;

    b.wait_for(&row("acme_corp")).await;
    let shown = budget_shown(&b, "acme_corp").await;
    assert_eq!(shown[0], json!(["$0.00 / $10 this month"]));
    b.click_on(&budget_button("acme_corp")).await;
    b.wait_for("#budget-dialog[open]").await;
    assert_eq!(b.text_of("#budget-name").await, XSS);
    assert!(b.find_all("img").await.is_empty(), "no img element exists");
    assert_eq!(b.alert_text().await, None, "no alert() ran");
    b.screenshot("1-form").await;

    b.close().await;
    app.stop().await;
}
