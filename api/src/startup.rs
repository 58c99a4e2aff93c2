//! `Application`: the API server, built from settings, bound to its port before it runs.

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use chrono::Utc;
use platform::Settings;
use scheduler::Scheduler;
use secrecy::{ExposeSecret, SecretString};
use std::net::TcpListener;
use std::sync::Arc;
use store::Database;
use tracing_actix_web::TracingLogger;

use crate::auth::JwtKeys;
use crate::error::{self, ApiError};
use crate::extract::MAX_BODY_BYTES;
use crate::middleware;

/// What every handler shares.
pub struct AppState {
    pub db: Database,
    /// Users' record writes, committed in groups (see `services::writes`).
    pub writes: store::writes::Writes,
    pub jwt: JwtKeys,
    pub openapi_yaml: String,
    /// The VAPID public key web clients subscribe with.
    pub vapid_public_key: String,
    /// Whether `http://` and loopback push endpoints are allowed (development and tests only).
    pub push_allow_insecure: bool,
    /// The API's metrics.
    pub metrics: Arc<crate::metrics::ApiMetrics>,
    /// Every metric of this process (the API's and the embedded scheduler's), for `/metrics`.
    pub registry: prometheus::Registry,
    /// Login and registration limits and login locks, shared by every API process.
    pub auth_limits: crate::ratelimit::AuthLimits,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Accounts recently read for token checks.
    pub accounts: crate::auth::AccountCache,
    /// Pages of a user's records as last sent, sent again while the user has changed nothing.
    pub pages: crate::services::pages::PageCache,
    /// Each user's change number, read for the requests waiting at once by one query.
    pub change_numbers: store::seqs::ChangeNumbers,
    /// The public base of links in emails (`MILKFLOW_PUBLIC_URL`).
    pub public_url: String,
}

/// A built API server, with the embedded scheduler when asked for.
pub struct Application {
    port: u16,
    server: Server,
    scheduler: Option<Scheduler>,
    db: Database,
}

impl Application {
    /// Migrates, connects, bootstraps the admin, starts the scheduler (if `with_scheduler`) and binds the listener.
    pub async fn build(settings: Settings, with_scheduler: bool) -> anyhow::Result<Self> {
        store::db::migrate(&settings.database_url, settings.database_kind).await?;
        let db = store::db::connect(&settings.database_url, settings.database_kind, settings.database_max_connections)
            .await?;
        let jwt = JwtKeys::new(&jwt_secret(&settings, &db).await?);
        let limit_store = crate::ratelimit::LimitStore::connect(&db, settings.edge.redis_url.as_deref()).await?;
        let auth_limits = crate::ratelimit::AuthLimits::new(
            limit_store,
            settings.auth_rate_limit_per_minute,
            settings.recovery_rate_limit_per_hour,
        );
        match (&settings.admin_email, &settings.admin_password) {
            (Some(email), Some(password)) => {
                crate::services::admins::bootstrap_admin(
                    &db,
                    &auth_limits,
                    email,
                    password.expose_secret(),
                    Utc::now(),
                )
                .await
                .map_err(|e| match e {
                    ApiError::Validation(v) => anyhow::anyhow!(
                        "invalid setting MILKFLOW_ADMIN_EMAIL/MILKFLOW_ADMIN_PASSWORD: {}",
                        v.iter().map(|f| format!("{} {}", f.field, f.message)).collect::<Vec<_>>().join(", ")
                    ),
                    other => anyhow::anyhow!("admin bootstrap failed: {other}"),
                })?;
            }
            (None, None) => {}
            _ => tracing::warn!("set both MILKFLOW_ADMIN_EMAIL and MILKFLOW_ADMIN_PASSWORD to bootstrap an admin"),
        }
        let registry = platform::metrics::registry();
        let metrics = Arc::new(crate::metrics::ApiMetrics::registered_in(&registry));
        let write_metrics = Arc::new(store::metrics::WriteMetrics::registered_in(&registry));
        let scheduler = if with_scheduler {
            let delivery_metrics = Arc::new(scheduler::metrics::Metrics::registered_in(&registry));
            let mut s = Scheduler::build(&settings, db.clone(), delivery_metrics).await?;
            s.start().await?;
            Some(s)
        } else {
            None
        };
        if settings.push.allow_insecure {
            tracing::warn!(
                "MILKFLOW_PUSH_ALLOW_INSECURE=true: http:// and loopback push endpoints are accepted (development and tests only)"
            );
        }
        let vapid = push::vapid::VapidKeys::load(&settings, async |key: &str| {
            Ok(store::secrets::get_or_store(&db, push::vapid::SECRET_NAME, key).await?)
        })
        .await?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            writes: store::writes::Writes::start(db.clone(), write_metrics).await?,
            jwt,
            openapi_yaml: crate::openapi::yaml()?,
            vapid_public_key: vapid.public_key.clone(),
            push_allow_insecure: settings.push.allow_insecure,
            metrics,
            registry,
            auth_limits,
            trusted_proxies: settings.edge.trusted_proxies.clone(),
            accounts: Default::default(),
            pages: crate::services::pages::PageCache::with_capacity(settings.page_cache_mib * 1024 * 1024),
            change_numbers: store::seqs::ChangeNumbers::start(db.clone()),
            public_url: settings.mail.public_url.clone(),
        });
        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on MILKFLOW_LISTEN={}: {e}", settings.listen))?;
        let address = listener.local_addr()?;
        let cors_origins = settings.edge.cors_origins.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap(from_fn(error::problem_for_bare_errors))
                .wrap(Condition::new(!cors_origins.is_empty(), cors(&cors_origins)))
                .wrap(from_fn(middleware::observe))
                .wrap(TracingLogger::default())
                .wrap(from_fn(middleware::guard))
                .configure(crate::routes::configure)
                .default_service(web::to(|| async {
                    error::Problem::for_status(actix_web::http::StatusCode::NOT_FOUND, Some("no such route".into()))
                        .respond()
                }))
        })
        .listen(listener)?
        .workers(settings.workers)
        .shutdown_timeout(10)
        .run();
        tracing::info!(%address, database = ?settings.database_kind, scheduler = with_scheduler, "milkflow-api listening");
        Ok(Self { port: address.port(), server, scheduler, db })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The database the server uses.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Serves until stopped (SIGTERM, ctrl-c or the handle), then stops the scheduler.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        if let Some(mut s) = self.scheduler {
            s.shutdown().await?;
        }
        self.db.close().await?;
        tracing::info!("milkflow-api stopped");
        Ok(served?)
    }
}

/// The configured JWT secret, or (outside production) one generated once and kept in the database.
async fn jwt_secret(settings: &Settings, db: &Database) -> anyhow::Result<SecretString> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    let (secret, created) = store::secrets::get_or_create(db, "jwt_secret", 48).await?;
    tracing::warn!(
        created,
        "MILKFLOW_JWT_SECRET is unset: using a generated secret stored in the database; set it in production"
    );
    Ok(SecretString::from(secret))
}

/// CORS for the exact origins of `MILKFLOW_CORS_ORIGINS`: what a PWA or an admin page needs, nothing more.
fn cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH, header::IF_NONE_MATCH])
        .expose_headers([header::ETAG, header::RETRY_AFTER, header::LOCATION])
        .max_age(3600)
        // Another origin gets no CORS headers (its browser refuses the answer); apps without an Origin are unaffected.
        .block_on_origin_mismatch(false);
    origins.iter().fold(cors, |cors, origin| cors.allowed_origin(origin))
}
