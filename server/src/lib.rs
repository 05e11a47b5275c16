//! # davd: the server
//!
//! The only crate that knows HTTP plumbing (axum, tower, hyper). It reads the command line,
//! wires the subsystems into a registry ([`wiring`]), and serves connections ([`listener`]),
//! handing every request to the executive through one handler ([`http`]).

pub mod access_log;
pub mod auth;
pub mod body;
pub mod check_config;
pub mod cli;
pub mod config;
pub mod config_history;
mod config_limits;
mod config_mount;
pub mod connections;
pub mod exchange;
pub mod fragment;
pub mod history_views;
pub mod http;
pub mod linger;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod settings;
pub mod threads;
pub mod tls;
pub mod wiring;
mod woken;

pub use listener::serve;
pub use settings::{ConnectionLimits, Settings};
pub use wiring::{App, StartError};
