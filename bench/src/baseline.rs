//! The framework's ceiling: a bare actix-web handler returning a fixed JSON body, measured in the same run
//! as the API so the ratio says how much of it milkflow keeps.

use actix_web::{App, HttpResponse, HttpServer, web};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BASELINE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8099".into());
    let workers = std::env::var("BASELINE_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let body = serde_json::json!({"items": [], "next_cursor": null}).to_string();
    HttpServer::new(move || {
        let body = body.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let body = body.clone();
                async move { HttpResponse::Ok().content_type("application/json").body(body) }
            }),
        )
    })
    .bind(listen)?
    .workers(workers)
    .run()
    .await
}
