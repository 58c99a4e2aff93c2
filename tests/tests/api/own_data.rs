//! The account's own data: export as JSON and as a zip of CSV files; erasure leaves no row of it in any table.

use milkflow_tests::{TestApp, massage_body, on_both_databases, pump_body};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use std::io::Read;

on_both_databases!(
    export_as_json_holds_everything_the_user_entered_and_nothing_of_others,
    export_as_csv_is_a_zip_with_one_file_per_collection,
    csv_cells_that_look_like_formulas_are_written_as_text,
    erasing_an_account_leaves_zero_rows_of_it_in_every_table,
);

async fn fill(app: &TestApp, token: &str) {
    assert_eq!(app.post_auth("/v1/pump-sessions", &pump_body(60, 50.0, 40.0), token).await.status, 201);
    assert_eq!(app.post_auth("/v1/massage-sessions", &massage_body(70), token).await.status, 201);
    let check =
        json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 2, "pain": 1, "notes": "comma, \"quote\""});
    assert_eq!(app.post_auth("/v1/symptom-checks", &check, token).await.status, 201);
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": ["07:00"]}});
    assert_eq!(app.post_auth("/v1/routines", &routine, token).await.status, 201);
}

async fn export_as_json_holds_everything_the_user_entered_and_nothing_of_others(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let (other, _) = app.signed_up().await;
    fill(&app, &token).await;
    fill(&app, &other).await;
    let deleted = app.post_auth("/v1/pump-sessions", &pump_body(30, 1.0, 1.0), &token).await;
    app.send(
        Method::DELETE,
        &format!("/v1/pump-sessions/{}", deleted.body["id"].as_str().unwrap()),
        None,
        Some(&token),
    )
    .await;
    let r = app.get("/v1/me/export", Some(&token)).await;
    assert_eq!(r.status, 200);
    for c in ["pump_sessions", "massage_sessions", "symptom_checks", "routines"] {
        assert_eq!(r.body[c].as_array().unwrap().len(), 1, "{c}: {}", r.body[c]);
    }
    assert_eq!(r.body["pump_sessions"][0]["volume_left_ml"], 50.0);
    assert!(r.body["account"]["email"].as_str().unwrap().contains('@'));
    assert!(!r.body.to_string().contains("password"));
    assert_eq!(app.get("/v1/me/export?format=xml", Some(&token)).await.error_fields(), vec!["format"]);
}

async fn export_as_csv_is_a_zip_with_one_file_per_collection(app: TestApp) {
    let (token, _) = app.signed_up().await;
    fill(&app, &token).await;
    let r =
        app.client.get(format!("{}/v1/me/export?format=csv", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "account.csv",
            "care_notes.csv",
            "care_team.csv",
            "care_team_access_log.csv",
            "massage_sessions.csv",
            "pump_sessions.csv",
            "routines.csv",
            "symptom_checks.csv"
        ]
    );
    let mut text = String::new();
    zip.by_name("symptom_checks.csv").unwrap().read_to_string(&mut text).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let notes = headers.iter().position(|h| h == "notes").unwrap();
    assert_eq!(&rows[0][notes], "comma, \"quote\"");
    let mut pumps = String::new();
    zip.by_name("pump_sessions.csv").unwrap().read_to_string(&mut pumps).unwrap();
    assert!(pumps.starts_with("id,started_at,ended_at,side,volume_left_ml"), "{pumps}");
}

/// The CSV file `name` of the account's zip export, as rows keyed by column.
async fn csv_rows(app: &TestApp, token: &str, name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let r = app.client.get(format!("{}/v1/me/export?format=csv", app.address)).bearer_auth(token).send().await.unwrap();
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.into(), v.into())).collect())
        .collect()
}

async fn csv_cells_that_look_like_formulas_are_written_as_text(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let formula = "=HYPERLINK(\"http://evil.example\",\"open\")";
    let check = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 2, "pain": 1, "notes": formula});
    assert_eq!(app.post_auth("/v1/symptom-checks", &check, &token).await.status, 201);
    let mut pump = pump_body(60, 50.0, 40.0);
    pump["notes"] = json!("@SUM(1+1)");
    assert_eq!(app.post_auth("/v1/pump-sessions", &pump, &token).await.status, 201);
    let renamed = app.send(Method::PATCH, "/v1/me", Some(&json!({"display_name": "+ana"})), Some(&token)).await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);

    assert_eq!(csv_rows(&app, &token, "symptom_checks.csv").await[0]["notes"], format!("'{formula}"));
    let pumps = csv_rows(&app, &token, "pump_sessions.csv").await;
    assert_eq!(pumps[0]["notes"], "'@SUM(1+1)");
    assert_eq!(pumps[0]["volume_left_ml"], "50.0", "numbers stay numbers");
    assert_eq!(csv_rows(&app, &token, "account.csv").await[0]["display_name"], "'+ana");
    // The JSON export keeps what the user typed.
    assert_eq!(app.get("/v1/me/export", Some(&token)).await.body["symptom_checks"][0]["notes"], formula);
}

/// Every table with a `user_id` column, found in the schema so a new table cannot be forgotten.
async fn tables_with_user_id(app: &TestApp) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let sql = match app.kind {
        milkflow_tests::Db::Sqlite => "SELECT m.name AS t FROM sqlite_master m JOIN pragma_table_info(m.name) p \
            WHERE m.type = 'table' AND p.name = 'user_id'"
            .to_owned(),
        milkflow_tests::Db::Postgres => "SELECT table_name::text AS t FROM information_schema.columns \
            WHERE column_name = 'user_id' AND table_schema = 'public'"
            .to_owned(),
    };
    let rows = app.db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "t").unwrap()).collect()
}

async fn rows_of(app: &TestApp, table: &str, user: uuid::Uuid) -> i64 {
    let backend = app.db.get_database_backend();
    let placeholder = if app.kind == milkflow_tests::Db::Postgres { "$1" } else { "?" };
    let column = if table == "users" { "id" } else { "user_id" };
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {placeholder}");
    let row = app.db.query_one_raw(Statement::from_sql_and_values(backend, sql, [user.into()])).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn erasing_an_account_leaves_zero_rows_of_it_in_every_table(app: TestApp) {
    let body = app.register(&milkflow_tests::unique_email()).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let id = uuid::Uuid::parse_str(body["user"]["id"].as_str().unwrap()).unwrap();
    let (other, _) = app.signed_up().await;
    fill(&app, &token).await;
    fill(&app, &other).await;
    // A consultant (the other account) writes the account a care note.
    let invited = app.post_auth("/v1/care-team/invitations", &json!({"role": "consultant"}), &token).await;
    app.execute("UPDATE users SET email_verified_at = created_at").await;
    let joined =
        app.post_auth("/v1/care-team/invitations/accept", &json!({"code": invited.body["code"]}), &other).await;
    assert_eq!(joined.status, 201, "{}", joined.body);
    let note = app.post_auth(&format!("/v1/clients/{id}/notes"), &json!({"text": "Rest well."}), &other).await;
    assert_eq!(note.status, 201, "{}", note.body);
    for t in [&token, &other] {
        let device = app
            .post_auth(
                "/v1/devices",
                &json!({"platform": "fcm", "token": format!("token-{}", uuid::Uuid::new_v4())}),
                t,
            )
            .await;
        assert_eq!(device.status, 201, "{}", device.body);
    }
    // Fan the planned 07:00 reminders out into deliveries (the scheduler's first step), when they are due.
    let planned = app.get("/v1/occurrences", Some(&token)).await;
    let due: chrono::DateTime<chrono::Utc> =
        planned.body[0]["due_at"].as_str().expect("a planned reminder").parse().unwrap();
    let ctx = scheduler::tick::TickContext::build(&app.settings, app.db.clone()).await.unwrap();
    let mut outcome = scheduler::tick::TickOutcome::default();
    scheduler::tick::fan_out(&ctx, due + chrono::Duration::seconds(1), &mut outcome).await.unwrap();
    assert!(outcome.claimed >= 2, "{outcome:?}");
    let mut tables = tables_with_user_id(&app).await;
    tables.sort();
    for expected in [
        "massage_sessions",
        "pump_sessions",
        "symptom_checks",
        "routines",
        "refresh_tokens",
        "devices",
        "occurrences",
        "deliveries",
    ] {
        assert!(tables.contains(&expected.to_owned()), "{expected} not found among {tables:?}");
    }
    tables.push("users".into());
    for t in &tables {
        assert!(
            rows_of(&app, t, id).await > 0,
            "{t} has no row of the account before the erase: the check would prove nothing"
        );
    }
    assert_eq!(app.send(Method::DELETE, "/v1/me", None, Some(&token)).await.status, 204);
    for t in &tables {
        assert_eq!(rows_of(&app, t, id).await, 0, "{t} still holds rows of the account");
    }
    let theirs = app.get("/v1/me/export", Some(&other)).await;
    assert_eq!(theirs.body["pump_sessions"].as_array().unwrap().len(), 1, "another account lost data");
}
