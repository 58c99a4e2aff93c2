//! milkflow's REST API: accounts and auth today; routines, logs and the admin API build on it.

pub mod auth;
pub mod cli;
pub mod error;
pub mod extract;
pub mod http;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod services;
pub mod startup;

pub use startup::{AppState, Application};
