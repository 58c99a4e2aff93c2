//! A Web Push sink: `POST /push/{device}` answers as scripted (201 by default) and records each request
//! (device, arrival time, status and, with `--ua-private-key`, the occurrence id read from the decrypted
//! payload). `GET /arrivals` returns the record; `POST /reset` clears it.

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use std::sync::Mutex;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The devices' shared private key (base64url scalar): decrypt each payload and record its occurrence.
    #[arg(long, allow_hyphen_values = true)]
    ua_private_key: Option<String>,
    /// The devices' shared auth secret (base64url), with `--ua-private-key`.
    #[arg(long, allow_hyphen_values = true)]
    auth: Option<String>,
    /// Answer 500 for this long after the first request.
    #[arg(long, default_value_t = 0)]
    fail_500_ms: u64,
    /// Then answer 429 with `Retry-After` for this long.
    #[arg(long, default_value_t = 0)]
    then_429_ms: u64,
    /// The `Retry-After` seconds of those 429s.
    #[arg(long, default_value_t = 1)]
    retry_after_s: u64,
    /// Devices whose id starts with this are gone: 410, always.
    #[arg(long, default_value = "gone-")]
    gone_prefix: String,
}

/// One request as the sink saw it.
#[derive(Serialize, Clone)]
struct Arrival {
    device: String,
    /// Unix milliseconds.
    at_ms: i64,
    status: u16,
    occurrence: Option<String>,
}

struct State {
    args: Args,
    decrypt: Option<(p256::SecretKey, [u8; 16])>,
    first_ms: Mutex<Option<i64>>,
    arrivals: Mutex<Vec<Arrival>>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let decrypt = match (&args.ua_private_key, &args.auth) {
        (Some(key), Some(auth)) => {
            let key = p256::SecretKey::from_slice(&B64.decode(key)?)?;
            let auth: [u8; 16] =
                B64.decode(auth)?.try_into().map_err(|_| anyhow::anyhow!("--auth must be 16 bytes"))?;
            Some((key, auth))
        }
        (None, None) => None,
        _ => anyhow::bail!("--ua-private-key and --auth go together"),
    };
    let listener = std::net::TcpListener::bind(&args.listen)?;
    // The first line tells the driver where the sink listens.
    println!("{}", serde_json::json!({"listen": listener.local_addr()?.to_string()}));
    let workers = args.workers;
    let state = web::Data::new(State {
        args,
        decrypt,
        first_ms: Mutex::new(None),
        arrivals: Mutex::new(Vec::with_capacity(200_000)),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/push/{device}", web::post().to(receive))
            .route("/arrivals", web::get().to(arrivals))
            .route("/count", web::get().to(count))
            .route("/reset", web::post().to(reset))
    })
    .listen(listener)?
    .workers(workers)
    .backlog(4096)
    .run()
    .await?;
    Ok(())
}

async fn receive(path: web::Path<String>, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let device = path.into_inner();
    let now = chrono::Utc::now().timestamp_millis();
    let first = *state.first_ms.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(now);
    let elapsed = (now - first) as u64;
    let a = &state.args;
    let status: u16 = if device.starts_with(&a.gone_prefix) {
        410
    } else if elapsed < a.fail_500_ms {
        500
    } else if elapsed < a.fail_500_ms + a.then_429_ms {
        429
    } else {
        201
    };
    let occurrence = match &state.decrypt {
        Some((key, auth)) => match milkflow_tests::webpush::decrypt(&body, key, auth) {
            Ok(plain) => serde_json::from_slice::<serde_json::Value>(&plain)
                .ok()
                .and_then(|v| v["occurrence_id"].as_str().map(str::to_owned)),
            Err(e) => return HttpResponse::BadRequest().body(e),
        },
        None => None,
    };
    state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).push(Arrival { device, at_ms: now, status, occurrence });
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    if status == 429 {
        response.insert_header(("Retry-After", a.retry_after_s.to_string()));
    }
    response.finish()
}

async fn arrivals(state: web::Data<State>) -> HttpResponse {
    let all = state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    HttpResponse::Ok().json(all)
}

/// How many requests were answered with `status` (all, without it): cheap enough to poll during a burst.
async fn count(query: web::Query<std::collections::HashMap<String, u16>>, state: web::Data<State>) -> HttpResponse {
    let status = query.get("status").copied();
    let arrivals = state.arrivals.lock().unwrap_or_else(|p| p.into_inner());
    let n = arrivals.iter().filter(|a| status.is_none_or(|s| a.status == s)).count();
    HttpResponse::Ok().json(n)
}

async fn reset(state: web::Data<State>) -> HttpResponse {
    state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).clear();
    *state.first_ms.lock().unwrap_or_else(|p| p.into_inner()) = None;
    HttpResponse::NoContent().finish()
}
