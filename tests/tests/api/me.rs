//! `/v1/me`: read, change and erase the user's own account, on SQLite and PostgreSQL.

use milkflow_tests::{PASSWORD, TestApp, on_both_databases, unique_email};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    me_returns_the_account,
    me_without_a_token_is_unauthorized,
    patch_me_changes_every_profile_field,
    patch_me_with_bad_fields_names_them_and_changes_nothing,
    patch_me_with_null_clears_optional_fields,
    delete_me_erases_the_accounts_rows_and_ends_its_tokens,
);

async fn me_returns_the_account(app: TestApp) {
    let email = unique_email();
    let body = app.register(&email).await;
    let r = app.get("/v1/me", body["access_token"].as_str()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["email"], email.to_lowercase());
    assert_eq!(r.body["id"], body["user"]["id"]);
}

async fn me_without_a_token_is_unauthorized(app: TestApp) {
    let r = app.get("/v1/me", None).await;
    r.assert_problem(401);
    assert!(r.headers.get("www-authenticate").is_some());
    app.get("/v1/me", Some("garbage")).await.assert_problem(401);
}

async fn patch_me_changes_every_profile_field(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let change = json!({
        "display_name": "  Ana  ",
        "timezone": "America/New_York",
        "volume_unit": "oz",
        "quiet_hours": {"start": "22:30", "end": "06:00"}
    });
    let r = app.send(Method::PATCH, "/v1/me", Some(&change), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "Ana");
    assert_eq!(r.body["timezone"], "America/New_York");
    assert_eq!(r.body["volume_unit"], "oz");
    assert_eq!(r.body["quiet_hours"], json!({"start": "22:30", "end": "06:00"}));
    let again = app.get("/v1/me", Some(&token)).await;
    assert_eq!(again.body["timezone"], "America/New_York");
    assert_eq!(again.body["quiet_hours"]["start"], "22:30");
}

async fn patch_me_with_bad_fields_names_them_and_changes_nothing(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let change = json!({
        "display_name": "Ana",
        "timezone": "Mars/Olympus",
        "quiet_hours": {"start": "25:00", "end": "06:00"}
    });
    let r = app.send(Method::PATCH, "/v1/me", Some(&change), Some(&token)).await;
    assert_eq!(r.error_fields(), vec!["timezone", "quiet_hours.start"]);
    let bad_unit = app.send(Method::PATCH, "/v1/me", Some(&json!({"volume_unit": "cups"})), Some(&token)).await;
    assert_eq!(bad_unit.error_fields(), vec!["volume_unit"]);
    let same = app
        .send(Method::PATCH, "/v1/me", Some(&json!({"quiet_hours": {"start": "06:00", "end": "06:00"}})), Some(&token))
        .await;
    assert_eq!(same.error_fields(), vec!["quiet_hours"]);
    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(me.body["display_name"], serde_json::Value::Null, "a valid field of a refused request was written");
    assert_eq!(me.body["timezone"], "UTC");
}

async fn patch_me_with_null_clears_optional_fields(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let set = json!({"display_name": "Ana", "quiet_hours": {"start": "22:00", "end": "06:00"}});
    app.send(Method::PATCH, "/v1/me", Some(&set), Some(&token)).await;
    let keep = app.send(Method::PATCH, "/v1/me", Some(&json!({})), Some(&token)).await;
    assert_eq!(keep.body["display_name"], "Ana");
    let clear = json!({"display_name": null, "quiet_hours": null});
    let r = app.send(Method::PATCH, "/v1/me", Some(&clear), Some(&token)).await;
    assert_eq!(r.status, 200);
    assert!(r.body["display_name"].is_null() && r.body["quiet_hours"].is_null(), "{}", r.body);
}

async fn delete_me_erases_the_accounts_rows_and_ends_its_tokens(app: TestApp) {
    let email = unique_email();
    let body = app.register(&email).await;
    let (token, refresh) = (body["access_token"].as_str().unwrap(), body["refresh_token"].as_str().unwrap());
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    let other = app.signed_up().await.0;
    app.login(&email, PASSWORD).await;

    let r = app.send(Method::DELETE, "/v1/me", None, Some(token)).await;
    assert_eq!(r.status, 204);
    app.get("/v1/me", Some(token)).await.assert_problem(401);
    app.post("/v1/auth/refresh", &json!({"refresh_token": refresh})).await.assert_problem(401);
    app.login(&email, PASSWORD).await.assert_problem(401);
    let user_rows = app.count("users", &format!("email = '{}'", email.to_lowercase())).await;
    assert_eq!(user_rows, 0);
    let ids = app.count("users", "1 = 1").await;
    assert_eq!(ids, 2, "the admin and the other account remain");
    let tokens_left = sqlx_count_tokens(&app, &id).await;
    assert_eq!(tokens_left, 0);
    assert_eq!(app.get("/v1/me", Some(&other)).await.status, 200, "another account is untouched");
}

async fn sqlx_count_tokens(app: &TestApp, user_id: &str) -> u64 {
    use entity::refresh_token;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let id = uuid::Uuid::parse_str(user_id).unwrap();
    refresh_token::Entity::find().filter(refresh_token::Column::UserId.eq(id)).count(&app.db).await.unwrap()
}
