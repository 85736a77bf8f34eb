//! The environment registry as clients manage it: list, get, explicit create, rename and
//! delete, under the same slug rules and cap as the environments executions create.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, query, spawn_app};

const ENVS: &str = "/v1/tenants/demo/environments";
const EXECUTE: &str = "/v1/tenants/demo/agents/support-bot:execute";

fn env_path(slug: &str) -> String {
    format!("{ENVS}/{slug}")
}

async fn create(app: &TestApp, slug: &str, display_name: Option<&str>) -> Value {
    let mut body = json!({"slug": slug});
    if let Some(name) = display_name {
        body["displayName"] = json!(name);
    }
    let reply = app.post(ENVS, &body).await;
    assert_eq!(reply.status, 201, "creating {slug}: {}", reply.text);
    reply.body
}

/// The slugs of one list reply, in the order given.
fn slugs(list: &Value) -> Vec<String> {
    list["environments"]
        .as_array()
        .unwrap_or_else(|| panic!("no environments array: {list}"))
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_string())
        .collect()
}

/// Every slug a filtered list returns, paging through it `page_size` at a time.
async fn list_all(app: &TestApp, filter: &[(&str, &str)], page_size: usize) -> Vec<String> {
    let size = page_size.to_string();
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut pairs = filter.to_vec();
        pairs.push(("pageSize", &size));
        if let Some(t) = &token {
            pairs.push(("pageToken", t));
        }
        let reply = app.get(&format!("{ENVS}?{}", query(&pairs))).await;
        assert_eq!(reply.status, 200, "{filter:?}: {}", reply.text);
        let page = slugs(&reply.body);
        assert!(page.len() <= page_size, "{filter:?}: {}", reply.text);
        all.extend(page);
        match reply.body.get("nextPageToken") {
            None => return all,
            Some(t) => token = Some(t.as_str().expect("a string token").to_string()),
        }
    }
    panic!("paging {filter:?} never ended");
}

fn tagged(slug: &str) -> Value {
    json!({"parameters": {"q": "hi"}, "environmentSlug": slug})
}

#[actix_web::test]
async fn an_environment_created_before_any_execution_is_explicit_until_and_after_it_is_used() {
    let app = spawn_app().await;

    let created = create(&app, "acme_corp", Some("Acme Corporation")).await;

    assert_eq!(created["slug"], "acme_corp");
    assert_eq!(created["displayName"], "Acme Corporation");
    assert_eq!(created["origin"], "explicit");
    assert_eq!(created["executionCount"], 0);
    assert!(created["lastUsedAt"].is_null(), "{created}");
    let created_at = created["createdAt"]
        .as_str()
        .expect("createdAt")
        .to_string();
    chrono::DateTime::parse_from_rfc3339(&created_at).expect("createdAt is RFC 3339");
    assert_eq!(app.get(&env_path("acme_corp")).await.body, created);
    let stored = "SELECT count(*) FROM environments
                  WHERE slug = 'acme_corp' AND origin = 'explicit'
                    AND display_name = 'Acme Corporation'";
    assert_eq!(app.count(stored), 1);

    let run = app.execute_in("acme_corp").await;
    run.execution_id();

    let after = app.get(&env_path("acme_corp")).await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(
        after.body["origin"], "explicit",
        "an execution does not turn it into auto"
    );
    assert_eq!(after.body["displayName"], "Acme Corporation");
    assert_eq!(after.body["createdAt"], created_at.as_str());
    assert_eq!(after.body["executionCount"], 1);
    assert_eq!(after.body["lastUsedAt"], run.body["finishedAt"]);
    assert_eq!(app.count("SELECT count(*) FROM environments"), 1);
}

#[actix_web::test]
async fn paging_the_registry_returns_every_environment_exactly_once_in_slug_order() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "50"]);
    for slug in ["echo", "alpha"] {
        create(&app, slug, None).await;
    }
    for slug in ["delta", "bravo", "charlie"] {
        app.execute_in(slug).await.execution_id();
    }

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let path = match &token {
            None => format!("{ENVS}?pageSize=2"),
            Some(t) => format!("{ENVS}?{}", query(&[("pageSize", "2"), ("pageToken", t)])),
        };
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.body["count"], 5,
            "every page counts the whole registry"
        );
        assert_eq!(reply.body["cap"], 50, "every page shows the tenant's cap");
        sizes.push(slugs(&reply.body).len());
        seen.extend(slugs(&reply.body));
        match reply.body.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
        assert!(sizes.len() < 10, "paging never ends: {seen:?}");
    }

    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let everything = app.get(ENVS).await;
    assert_eq!(slugs(&everything.body), seen);
    assert!(
        everything.body.get("nextPageToken").is_none(),
        "one page holds all five: {}",
        everything.text
    );
    let origins: Vec<&str> = everything.body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["origin"].as_str().unwrap())
        .collect();
    assert_eq!(origins, ["explicit", "auto", "auto", "auto", "explicit"]);
}

#[actix_web::test]
async fn the_prefix_filter_matches_slugs_literally() {
    let app = spawn_app().await;
    for slug in [
        "acme",
        "acme_corp",
        "acme_labs",
        "acmexcorp",
        "acmex_labs",
        "beta_acme_corp",
        "globex",
    ] {
        create(&app, slug, None).await;
    }
    // (prefix, slugs it must list, why)
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "acme_",
            &["acme_corp", "acme_labs"],
            "'_' is a literal underscore, not a one-character wildcard",
        ),
        (
            "acme",
            &["acme", "acme_corp", "acme_labs", "acmex_labs", "acmexcorp"],
            "a prefix matches the slug equal to it and every longer one",
        ),
        ("acme_corp", &["acme_corp"], "a whole slug matches itself"),
        (
            "corp",
            &[],
            "a prefix does not match in the middle of a slug",
        ),
        (
            "acme%",
            &[],
            "'%' is a literal percent sign, not a wildcard",
        ),
        ("%", &[], "'%' alone matches nothing"),
        ("_", &[], "'_' alone matches nothing"),
        ("zzz", &[], "no slug starts with it"),
    ];

    for (prefix, expected, why) in cases {
        let found = list_all(&app, &[("prefix", prefix)], 2).await;
        assert_eq!(found, *expected, "prefix {prefix:?}: {why}");
    }
}

#[actix_web::test]
async fn the_text_filter_finds_environments_by_display_name() {
    let app = spawn_app().await;
    create(&app, "acme_corp", Some("Acme Corporation")).await;
    create(&app, "globex", Some("Globex Inc")).await;
    create(&app, "umbrella", Some("Umbrella (Acme subsidiary)")).await;
    create(&app, "uptime_co", Some("100% Uptime")).await;
    create(&app, "initech", None).await;
    // (text, slugs it must list, why)
    let cases: &[(&str, &[&str], &str)] = &[
        ("Corporation", &["acme_corp"], "a word of one display name"),
        (
            "Acme",
            &["acme_corp", "umbrella"],
            "text anywhere in the display name",
        ),
        ("Globex Inc", &["globex"], "a whole display name"),
        ("subsidiary)", &["umbrella"], "punctuation is plain text"),
        (
            "100%",
            &["uptime_co"],
            "'%' is a literal percent sign, not a wildcard",
        ),
        ("Hooli", &[], "no display name holds it"),
    ];

    for (text, expected, why) in cases {
        let found = list_all(&app, &[("q", text)], 10).await;
        assert_eq!(found, *expected, "q {text:?}: {why}");
    }
    let both = list_all(&app, &[("q", "Acme"), ("prefix", "um")], 10).await;
    assert_eq!(both, ["umbrella"], "prefix and text combine");
}

#[actix_web::test]
async fn explicit_create_refuses_bad_slugs_and_stores_nothing() {
    let app = spawn_app().await;
    let too_long = format!("a{}", "b".repeat(64));
    // (slug, why it must fail)
    let cases: Vec<(Value, &str)> = vec![
        (json!(""), "empty"),
        (json!("a"), "shorter than two characters"),
        (json!("Acme"), "upper case"),
        (json!("acme-corp"), "'-' is not allowed"),
        (json!("acme corp"), "spaces are not allowed"),
        (json!("acme.corp"), "'.' is not allowed"),
        (json!("9lives"), "must start with a letter"),
        (json!("_acme"), "must start with a letter, not '_'"),
        (json!("café"), "non-ASCII letters are not allowed"),
        (json!("acme\ncorp"), "control characters are not allowed"),
        (json!(too_long), "65 characters is over the limit of 64"),
        (json!(42), "a number is not a slug"),
        (json!(null), "null is not a slug"),
        (json!(["acme"]), "an array is not a slug"),
        (json!({"slug": "acme"}), "an object is not a slug"),
    ];
    let before = app.stored();

    for (slug, why) in &cases {
        let reply = app.post(ENVS, &json!({"slug": slug})).await;
        reply.assert_refused(400, "INVALID_ENVIRONMENT_SLUG", why);
        assert_eq!(reply.status_word(), "INVALID_ARGUMENT", "{why}");
        assert_eq!(reply.metadata()["field"], "slug", "{why}: {}", reply.text);
    }

    assert_eq!(app.stored(), before, "a refused slug is not registered");
    let longest = format!("a{}", "b".repeat(63));
    let created = create(&app, &longest, None).await;
    assert_eq!(
        created["slug"],
        longest.as_str(),
        "64 characters is allowed"
    );
}

#[actix_web::test]
async fn explicit_create_refuses_bodies_that_are_not_a_slug_and_a_display_name() {
    let app = spawn_app().await;
    // (body, reason, field, why it must fail)
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            json!({"slug": "acme_corp", "display_name": "Acme"}),
            "UNKNOWN_FIELD",
            "display_name",
            "snake case would silently drop the display name",
        ),
        (
            json!({"environmentSlug": "acme_corp"}),
            "UNKNOWN_FIELD",
            "environmentSlug",
            "the registry calls it slug",
        ),
        (
            json!({"displayName": "Acme"}),
            "INVALID_ARGUMENT",
            "slug",
            "slug is required",
        ),
        (
            json!({"slug": "acme_corp", "displayName": "Acme\nCorp"}),
            "INVALID_ARGUMENT",
            "displayName",
            "a display name holds no newline",
        ),
        (
            json!({"slug": "acme_corp", "displayName": "x".repeat(201)}),
            "INVALID_ARGUMENT",
            "displayName",
            "a display name holds at most 200 characters",
        ),
        (
            json!({"slug": "acme_corp", "displayName": 7}),
            "INVALID_ARGUMENT",
            "displayName",
            "a display name is text",
        ),
    ];
    let before = app.stored();

    for (body, reason, field, why) in &cases {
        let reply = app.post(ENVS, body).await;
        reply.assert_refused(400, reason, why);
        assert_eq!(reply.metadata()["field"], *field, "{why}: {}", reply.text);
    }

    assert_eq!(app.stored(), before, "nothing was registered");
}

#[actix_web::test]
async fn explicit_create_obeys_the_cap_that_auto_created_environments_count_against() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "2"]);
    app.execute_in("seen_first").await.execution_id();
    create(&app, "made_by_hand", Some("By hand")).await;
    let before = app.stored();

    let refused = app
        .post(
            ENVS,
            &json!({"slug": "one_too_many", "displayName": "Too many"}),
        )
        .await;

    refused.assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(refused.status_word(), "FAILED_PRECONDITION");
    assert_eq!(refused.metadata()["cap"], 2, "{}", refused.text);
    assert_eq!(refused.metadata()["count"], 2, "{}", refused.text);
    assert_eq!(app.stored(), before, "nothing stored at the cap");
    assert_eq!(app.get(&env_path("one_too_many")).await.status, 404);
    let list = app.get(ENVS).await;
    assert_eq!(
        (list.body["count"].clone(), list.body["cap"].clone()),
        (json!(2), json!(2))
    );

    app.cli(&["tenant", "set-cap", "demo", "3"]);
    create(&app, "one_too_many", None).await;
    app.execute_in("seen_first").await.execution_id();
}

#[actix_web::test]
async fn creating_an_existing_slug_is_a_conflict_however_it_was_created() {
    let app = spawn_app().await;
    app.execute_in("seen_in_a_run").await.execution_id();
    create(&app, "made_by_hand", Some("Original name")).await;
    app.cli(&["tenant", "set-cap", "demo", "2"]);
    let before = app.stored();
    // (slug, why it exists already)
    let cases = [
        ("seen_in_a_run", "auto-created by an execution"),
        ("made_by_hand", "created explicitly"),
    ];

    for (slug, why) in cases {
        let reply = app
            .post(ENVS, &json!({"slug": slug, "displayName": "Taken over"}))
            .await;
        reply.assert_refused(409, "ALREADY_EXISTS", why);
        assert_eq!(
            reply.metadata()["environmentSlug"],
            slug,
            "{why}: {}",
            reply.text
        );
    }

    assert_eq!(app.stored(), before);
    let auto = app.get(&env_path("seen_in_a_run")).await.body;
    assert_eq!(
        (auto["origin"].clone(), auto["displayName"].clone()),
        (json!("auto"), Value::Null),
        "the conflict changed nothing: {auto}"
    );
    let explicit = app.get(&env_path("made_by_hand")).await.body;
    assert_eq!(explicit["displayName"], "Original name");
}

#[actix_web::test]
async fn concurrent_explicit_creates_and_executions_at_the_cap_never_exceed_it() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "20"]);
    for i in 0..10 {
        app.execute_in(&format!("old_{i}")).await.execution_id();
    }

    let mut racers = Vec::new();
    for i in 0..20 {
        let slug = format!("made_{i}");
        let body = json!({"slug": slug, "displayName": format!("Made {i}")});
        racers.push((
            slug.clone(),
            true,
            app.spawn_post(Some(&app.admin_key), ENVS, &body),
        ));
        let slug = format!("seen_{i}");
        racers.push((
            slug.clone(),
            false,
            app.spawn_post(Some(&app.admin_key), EXECUTE, &tagged(&slug)),
        ));
    }
    let mut admitted = BTreeSet::new();
    for (slug, explicit, handle) in racers {
        let reply = handle.await.unwrap();
        match reply.status.as_u16() {
            201 if explicit => {
                assert_eq!(reply.body["origin"], "explicit", "{}", reply.text);
                admitted.insert(slug);
            }
            200 if !explicit => {
                admitted.insert(slug);
            }
            _ => {
                reply.assert_error(400, "ENVIRONMENT_CAP_REACHED");
                assert_eq!(reply.metadata()["cap"], 20, "{}", reply.text);
                assert_eq!(reply.metadata()["count"], 20, "{}", reply.text);
            }
        }
    }

    assert_eq!(
        admitted.len(),
        10,
        "exactly the free places were taken: {admitted:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM environments"), 20);
    let list = app.get(&format!("{ENVS}?pageSize=100")).await;
    assert_eq!(list.body["count"], 20);
    let registered: BTreeSet<String> = slugs(&list.body)
        .into_iter()
        .filter(|s| !s.starts_with("old_"))
        .collect();
    assert_eq!(registered, admitted);
    let recorded = "SELECT count(*) FROM executions WHERE environment_slug LIKE 'seen%'";
    let admitted_runs = admitted.iter().filter(|s| s.starts_with("seen_")).count();
    assert_eq!(
        app.count(recorded) as usize,
        admitted_runs,
        "refused runs were not recorded"
    );
}

#[actix_web::test]
async fn a_display_name_with_markup_quotes_and_unicode_comes_back_byte_identical() {
    let app = spawn_app().await;
    create(&app, "acme_corp", Some("Acme")).await;
    // (display name, what it tries)
    let names = [
        ("<script>alert(1)</script>", "markup stays text"),
        (
            r#"O'Brien & "Sons" <b>Ltd</b>"#,
            "single and double quotes, ampersand, tags",
        ),
        (
            r"C:\Users\acme\\share \n \u0041",
            "backslashes and escape look-alikes",
        ),
        ("x'; DROP TABLE environments;--", "SQL stays text"),
        (
            "Café Zürich 🚀👩‍💻🇯🇵",
            "accents, emoji, a ZWJ sequence and a flag",
        ),
        ("שלום עולם مرحبا بالعالم", "right-to-left Hebrew and Arabic"),
        (
            "Acme \u{200F}(RTL mark) e\u{301}",
            "a right-to-left mark and a combining accent",
        ),
        (
            "{\"json\": [1, 2]} %s %00 ${x}",
            "JSON, format strings and percent signs",
        ),
    ];

    for (name, why) in names {
        let patched = app
            .patch(&env_path("acme_corp"), &json!({"displayName": name}))
            .await;
        assert_eq!(patched.status, 200, "{why}: {}", patched.text);
        assert_eq!(patched.body["displayName"].as_str(), Some(name), "{why}");

        let got = app.get(&env_path("acme_corp")).await;
        let got_name = got.body["displayName"].as_str().unwrap_or_default();
        assert_eq!(got_name.as_bytes(), name.as_bytes(), "{why}: GET");
        let list = app.get(ENVS).await;
        let listed = list.body["environments"][0]["displayName"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(listed.as_bytes(), name.as_bytes(), "{why}: list");
        let stored: String = app
            .db()
            .query_row(
                "SELECT display_name FROM environments WHERE slug = 'acme_corp'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, name, "{why}: stored");
    }

    let created = create(&app, "scripted", Some(names[0].0)).await;
    assert_eq!(created["displayName"], names[0].0, "create keeps it too");
    assert_eq!(app.count("SELECT count(*) FROM environments"), 2);
}

#[actix_web::test]
async fn display_names_with_control_characters_or_over_200_characters_are_refused() {
    let app = spawn_app().await;
    create(&app, "acme_corp", Some("Acme")).await;
    // (display name, why it must fail)
    let cases: Vec<(String, &str)> = vec![
        (
            "Acme\nCorp".into(),
            "a newline would break the one-line rendering",
        ),
        ("Acme\r\nCorp".into(), "a carriage return"),
        ("Acme\tCorp".into(), "a tab"),
        ("Acme\u{0}Corp".into(), "a NUL"),
        ("Acme\u{1b}[31mCorp".into(), "a terminal escape"),
        ("Acme\u{85}Corp".into(), "NEL, the C1 next-line control"),
        (
            "Acme\u{2028}Corp".into(),
            "U+2028 LINE SEPARATOR is a newline too",
        ),
        (
            "Acme\u{2029}Corp".into(),
            "U+2029 PARAGRAPH SEPARATOR is a newline too",
        ),
        ("x".repeat(201), "201 characters"),
        (
            "é".repeat(201),
            "201 characters, however few bytes they are",
        ),
    ];

    for (name, why) in &cases {
        let reply = app
            .patch(&env_path("acme_corp"), &json!({"displayName": name}))
            .await;
        reply.assert_refused(400, "INVALID_ARGUMENT", why);
        assert_eq!(
            reply.metadata()["field"],
            "displayName",
            "{why}: {}",
            reply.text
        );
        assert_eq!(
            app.get(&env_path("acme_corp")).await.body["displayName"],
            "Acme",
            "{why}: the name is unchanged"
        );
    }

    let longest = "é".repeat(200);
    let reply = app
        .patch(&env_path("acme_corp"), &json!({"displayName": longest}))
        .await;
    assert_eq!(
        reply.status, 200,
        "200 characters is allowed: {}",
        reply.text
    );
    assert_eq!(reply.body["displayName"], longest.as_str());
}

#[actix_web::test]
async fn the_slug_of_an_environment_cannot_change() {
    let app = spawn_app().await;
    create(&app, "acme_corp", Some("Acme")).await;
    let before = app.stored();
    // (body, why it must fail)
    let cases = [
        (json!({"slug": "acme_inc"}), "a different slug"),
        (
            json!({"slug": "acme_inc", "displayName": "Acme Inc"}),
            "a different slug alongside a rename",
        ),
        (
            json!({"slug": "Acme_Corp"}),
            "a slug differing only in case",
        ),
        (json!({"slug": ""}), "an empty slug"),
        (json!({"slug": 42}), "a number is not the same slug"),
    ];

    for (body, why) in &cases {
        let reply = app.patch(&env_path("acme_corp"), body).await;
        reply.assert_refused(400, "SLUG_IMMUTABLE", why);
        assert_eq!(reply.metadata()["environmentSlug"], "acme_corp", "{why}");
    }

    assert_eq!(app.stored(), before);
    let env = app.get(&env_path("acme_corp")).await.body;
    assert_eq!(env["displayName"], "Acme", "nothing changed: {env}");
    assert_eq!(app.get(&env_path("acme_inc")).await.status, 404);
}

#[actix_web::test]
async fn a_patch_repeating_the_slug_renames_and_a_null_display_name_clears_it() {
    let app = spawn_app().await;
    let created = create(&app, "acme_corp", Some("Acme")).await;

    let renamed = app
        .patch(
            &env_path("acme_corp"),
            &json!({"slug": "acme_corp", "displayName": "Acme Corporation"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["displayName"], "Acme Corporation");
    assert_eq!(renamed.body["slug"], "acme_corp");
    assert_eq!(renamed.body["origin"], "explicit");
    assert_eq!(renamed.body["createdAt"], created["createdAt"]);

    let cleared = app
        .patch(&env_path("acme_corp"), &json!({"displayName": null}))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert!(cleared.body["displayName"].is_null(), "{}", cleared.text);
    assert!(app.get(&env_path("acme_corp")).await.body["displayName"].is_null());
    let cleared_in_db =
        "SELECT count(*) FROM environments WHERE slug = 'acme_corp' AND display_name IS NULL";
    assert_eq!(app.count(cleared_in_db), 1);

    let missing = app
        .patch(&env_path("nobody"), &json!({"displayName": "Ghost"}))
        .await;
    missing.assert_error(404, "NOT_FOUND");
    assert_eq!(
        app.count("SELECT count(*) FROM environments"),
        1,
        "PATCH never creates"
    );
}

#[actix_web::test]
async fn deleting_an_environment_keeps_its_history_and_the_next_execution_recreates_it() {
    let app = spawn_app().await;
    let first = create(&app, "acme_corp", Some("Acme")).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.execute_in("acme_corp").await.execution_id());
    }
    app.execute_in("globex").await.execution_id();
    assert_eq!(app.get(ENVS).await.body["count"], 2);

    let deleted = app.delete(&env_path("acme_corp")).await;

    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert!(deleted.text.is_empty(), "{}", deleted.text);
    app.get(&env_path("acme_corp"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete(&env_path("acme_corp"))
        .await
        .assert_error(404, "NOT_FOUND");
    let list = app.get(ENVS).await;
    assert_eq!(list.body["count"], 1);
    assert_eq!(slugs(&list.body), ["globex"]);
    let kept = "SELECT count(*) FROM executions WHERE environment_slug = 'acme_corp'";
    assert_eq!(app.count(kept), 3, "the executions keep their slug");

    let history = app
        .get("/v1/tenants/demo/executions?environment=acme_corp")
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    let rows = history.body["executions"].as_array().unwrap();
    let listed: Vec<&str> = rows
        .iter()
        .map(|r| r["executionId"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    assert!(
        rows.iter().all(|r| r["environmentSlug"] == "acme_corp"),
        "{}",
        history.text
    );

    let summary = app
        .get("/v1/tenants/demo/agents/support-bot/environments:summary")
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let acme = summary.body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environmentSlug"] == "acme_corp")
        .unwrap_or_else(|| panic!("the deleted slug keeps its summary row: {}", summary.text));
    assert_eq!(acme["executionCount"], 3);

    let again = app.execute_in("acme_corp").await;
    again.execution_id();
    let back = app.get(&env_path("acme_corp")).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(
        back.body["origin"], "auto",
        "re-sighted, not re-created by hand"
    );
    assert!(back.body["displayName"].is_null(), "{}", back.text);
    assert_eq!(
        back.body["executionCount"], 4,
        "history survives re-creation"
    );
    assert_eq!(back.body["lastUsedAt"], again.body["finishedAt"]);
    assert!(
        back.body["createdAt"].as_str() >= first["createdAt"].as_str(),
        "{} was created again after {}",
        back.body["createdAt"],
        first["createdAt"]
    );
    assert_eq!(app.get(ENVS).await.body["count"], 2);
}

#[actix_web::test]
async fn deleting_an_environment_frees_a_place_under_the_cap() {
    let app = spawn_app().await;
    app.cli(&["tenant", "set-cap", "demo", "2"]);
    app.execute_in("first").await.execution_id();
    app.execute_in("second").await.execution_id();
    app.execute_in("third")
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");
    app.post(ENVS, &json!({"slug": "third"}))
        .await
        .assert_error(400, "ENVIRONMENT_CAP_REACHED");

    assert_eq!(app.delete(&env_path("first")).await.status, 204);
    app.execute_in("third").await.execution_id();
    let capped = app.post(ENVS, &json!({"slug": "fourth"})).await;
    capped.assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(capped.metadata()["count"], 2);

    assert_eq!(app.delete(&env_path("second")).await.status, 204);
    create(&app, "fourth", None).await;
    let list = app.get(ENVS).await;
    assert_eq!(slugs(&list.body), ["fourth", "third"]);
    assert_eq!(list.body["count"], 2);
    assert_eq!(
        app.count("SELECT count(*) FROM executions"),
        3,
        "history is all kept"
    );
}

#[actix_web::test]
async fn only_an_admin_key_of_the_tenant_manages_its_environments() {
    let app = spawn_app().await;
    create(&app, "acme_corp", Some("Acme")).await;
    let (_, execute_key) = app.create_key("demo", "execute");
    let other_admin = app.cli_key(&["tenant", "create", "other"]);
    let acme = env_path("acme_corp");
    let diagnostics = format!("{ENVS}:diagnostics");
    // (method, path, body)
    let requests: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", ENVS, None),
        ("POST", ENVS, Some(json!({"slug": "sneaky"}))),
        ("GET", &acme, None),
        ("PATCH", &acme, Some(json!({"displayName": "Hijacked"}))),
        ("DELETE", &acme, None),
        ("GET", &diagnostics, None),
    ];
    let before = app.stored();
    // (key, status, reason, why it must fail)
    let callers = [
        (
            Some(execute_key.as_str()),
            403,
            "PERMISSION_DENIED",
            "an execute key may only run agents",
        ),
        (
            Some(other_admin.as_str()),
            403,
            "PERMISSION_DENIED",
            "another tenant's admin",
        ),
        (None, 401, "UNAUTHENTICATED", "no key"),
    ];

    for (key, status, reason, why) in callers {
        for (method, path, body) in &requests {
            let raw = body.as_ref().map(|b| b.to_string());
            let reply = app
                .send(method, path, key, raw.as_deref().map(str::as_bytes))
                .await;
            assert_eq!(
                reply.status.as_u16(),
                status,
                "{why}: {method} {path}: {}",
                reply.text
            );
            reply.assert_error(status, reason);
        }
    }

    assert_eq!(app.stored(), before);
    assert_eq!(app.get(&acme).await.body["displayName"], "Acme");
}

#[actix_web::test]
async fn a_slug_that_could_never_exist_is_not_found_in_a_path() {
    let app = spawn_app().await;
    // (path segment, why it is not found)
    let cases = [
        ("Acme", "upper case"),
        ("acme-corp", "'-'"),
        ("a", "too short"),
        ("caf%C3%A9", "non-ASCII"),
        ("never_created", "a valid slug nobody created"),
    ];

    for (segment, why) in cases {
        let reply = app.get(&env_path(segment)).await;
        assert_eq!(reply.status, 404, "{why}: {}", reply.text);
        reply.assert_error(404, "NOT_FOUND");
        let gone = app.delete(&env_path(segment)).await;
        assert_eq!(gone.status, 404, "{why}: {}", gone.text);
    }
}

#[actix_web::test]
async fn racing_explicit_creates_of_one_slug_create_it_once() {
    let app = spawn_app().await;
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let body = json!({"slug": "contested", "displayName": format!("Racer {i}")});
            app.spawn_post(Some(&app.admin_key), ENVS, &body)
        })
        .collect();
    let mut winners = Vec::new();
    for handle in racers {
        let reply = handle.await.unwrap();
        if reply.status == 201 {
            winners.push(reply.body["displayName"].clone());
        } else {
            reply.assert_error(409, "ALREADY_EXISTS");
        }
    }

    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    assert_eq!(app.count("SELECT count(*) FROM environments"), 1);
    let stored = app.get(&env_path("contested")).await.body;
    assert_eq!(
        stored["displayName"], winners[0],
        "the winner's name is kept"
    );
}

#[actix_web::test]
async fn registries_and_their_counts_are_per_tenant() {
    let app = spawn_app().await;
    let other_key = app.cli_key(&["tenant", "create", "other"]);
    let created = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/agents",
            &json!({"id": "bot", "runtime": {"kind": "echo"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    for _ in 0..3 {
        let reply = app
            .post_as(
                Some(&other_key),
                "/v1/tenants/other/agents/bot:execute",
                &tagged("acme_corp"),
            )
            .await;
        reply.execution_id();
    }
    let theirs = app
        .post_as(
            Some(&other_key),
            "/v1/tenants/other/environments",
            &json!({"slug": "their_own", "displayName": "Theirs"}),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    app.execute_in("acme_corp").await.execution_id();

    let ours = app.get(&env_path("acme_corp")).await.body;
    assert_eq!(ours["executionCount"], 1, "only demo's runs count: {ours}");
    let list = app.get(ENVS).await;
    assert_eq!(slugs(&list.body), ["acme_corp"]);
    assert_eq!(list.body["count"], 1);
    app.get(&env_path("their_own"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete(&env_path("their_own"))
        .await
        .assert_error(404, "NOT_FOUND");
    let other_list = app
        .send(
            "GET",
            "/v1/tenants/other/environments",
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(slugs(&other_list.body), ["acme_corp", "their_own"]);
    assert_eq!(other_list.body["environments"][0]["executionCount"], 3);
    let diagnosis = app.get(&format!("{ENVS}:diagnostics")).await.body;
    assert_eq!(diagnosis["count"], 1, "{diagnosis}");
}
