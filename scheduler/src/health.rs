//! The scheduler's own small HTTP server: `/healthz` and `/readyz`.

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use store::Database;

use crate::TickHealth;

struct HealthState {
    db: Database,
    tick: Arc<TickHealth>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Serves `/healthz`, `/readyz` and `/metrics` on `listener`.
pub fn serve(
    listener: TcpListener,
    db: Database,
    tick: Arc<TickHealth>,
    metrics: Arc<crate::metrics::Metrics>,
) -> std::io::Result<Server> {
    let state = web::Data::new(HealthState { db, tick, metrics });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render_metrics))
    })
    .listen(listener)?
    .workers(1)
    .shutdown_timeout(10)
    .run())
}

async fn render_metrics(state: web::Data<HealthState>) -> HttpResponse {
    HttpResponse::Ok().content_type(platform::metrics::CONTENT_TYPE).body(state.metrics.render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers and the claim tick completed recently.
async fn readyz(state: web::Data<HealthState>) -> HttpResponse {
    let database = store::db::ping(&state.db).await;
    let tick = state.tick.is_fresh();
    if database && tick {
        return HttpResponse::Ok().json(serde_json::json!({"status": "ready"}));
    }
    let detail = match (database, tick) {
        (false, _) => "the database is unreachable",
        _ => "the claim tick has not completed recently",
    };
    tracing::warn!(database, tick, "scheduler not ready");
    HttpResponse::ServiceUnavailable().content_type("application/problem+json").body(
        serde_json::json!({
            "type": "https://milkflow.app/problems/unavailable",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
        })
        .to_string(),
    )
}
