//! HTTP helpers the routes share: parameters, conditional requests and record views.

pub mod conditional;
pub mod params;
pub mod views;
