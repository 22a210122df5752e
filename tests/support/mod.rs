//! Shared test support: a scripted mock service, loopback servers, and a
//! `tracing` capture.
#![allow(dead_code)]

pub mod body;
pub mod client;
pub mod connector;
pub mod events;
#[cfg(feature = "http2")]
pub mod grpc;
#[cfg(feature = "http2")]
pub mod h2_server;
pub mod mock;
pub mod server;
pub mod upstream;
