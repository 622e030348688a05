//! The control interface of a running switch: a Unix socket that speaks one JSON request and
//! one JSON answer per line (`protocol`), the switch's side of it (`server`, `handler`), the
//! `ipvlan-switch ctl` client (`client`), and the tables both print (`render`).

pub mod client;
pub mod handler;
pub mod instance;
pub mod protocol;
pub mod render;
pub mod server;
pub mod telemetry;
