//! The `portway` program's parts, as a library so tests and fuzz targets can drive them:
//! the admin API, the settings of `portway serve`, the process limits, and the demo's
//! sample service.

pub mod admin;
pub mod demo;
pub mod limits;
pub mod settings;
pub mod webhooks;
