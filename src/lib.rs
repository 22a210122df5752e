//! A tower middleware that retries **connection failures**, and only those,
//! with jittered exponential backoff.
//!
//! A request that failed *to connect* (refused, unreachable, DNS failure,
//! connect timeout) never left the client: sending it again is always safe
//! and usually worth it, after a growing, jittered pause. A request whose
//! established connection broke may already have been written, so it is sent
//! again only if it is idempotent (by its method, an `Idempotency-Key`
//! header, or the policy's say): a POST whose connection died is never sent
//! twice. Each piece of evidence in an error counts only where it stands:
//! see [`ErrorClass::of`]. Every other error, and every HTTP response whatever its
//! status, comes back at once and untouched. See [`ErrorClass`] for how each
//! error is sorted.
//!
//! # Example
//!
//! Around a `hyper_util` client:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{Service, ServiceBuilder};
//! use tower_conn_retry::{Backoff, Jitter, RetryLayer, RetryPolicy};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let policy = RetryPolicy::builder()
//!     .max_retries(4)
//!     .backoff(
//!         Backoff::exponential(Duration::from_millis(50))
//!             .max_delay(Duration::from_secs(2))
//!             .jitter(Jitter::Full),
//!     )
//!     .build()?;
//!
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//! let mut client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(policy))
//!     .service(client);
//!
//! let request = http::Request::get("http://127.0.0.1:3000/").body(Full::default())?;
//! let response = client.ready().await?.call(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! # Where to put the layer
//!
//! - **Around the client** (above): every request is copied once (a `Clone`
//!   body, or a streaming body wrapped in [`ReplayBody`]), and both a failed
//!   connect and a connection lost under an idempotent request are retried.
//! - **Around the connector**: the client retries only establishing a
//!   connection. No request is ever copied, so streaming bodies just work,
//!   and a request on a pooled connection never touches the layer at all.
//!   Use [`ConnectorClassifier`]: at the connector nothing has been sent, so
//!   every transient error is a connect failure (an invalid URI or a
//!   rejected TLS certificate is not retried). It compiles only around a
//!   connector, never around a client. It serves wherever a
//!   `Service<Uri>` connector is accepted: hyper-util's `Client::build`,
//!   tonic's `Endpoint::connect_with_connector`. A connector whose error
//!   is tower's `Box<dyn Error + Send + Sync>` (hyper-rustls'
//!   `HttpsConnector`, a connector under tower's timeout) takes
//!   [`BoxedConnectorClassifier`].
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::{connect::HttpConnector, Client};
//! use hyper_util::rt::TokioExecutor;
//! use tower::ServiceBuilder;
//! use tower_conn_retry::{ConnectorClassifier, RetryLayer, RetryPolicy};
//!
//! let policy = RetryPolicy::builder()
//!     .classifier(ConnectorClassifier)
//!     .build()
//!     .unwrap();
//! let connector = ServiceBuilder::new()
//!     .layer(RetryLayer::new(policy))
//!     .service(HttpConnector::new());
//! let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
//! # let _ = client;
//! ```
//!
//! reqwest's `connector_layer` hands its layers a request type that is
//! neither `Clone` nor constructible outside reqwest (`Unnameable`, in
//! reqwest's `connect.rs`), so no layer there can send it again: this crate
//! cannot retry inside reqwest. Its feature `reqwest` retries around it
//! instead (module `reqwest`: a reqwest-middleware `Middleware`, and a
//! classifier for reqwest's own `retry` module).
//!
//! Around any other service, a request that is not HTTP (a dialer's
//! `SocketAddr`, a query of your own) needs no impl of your own when it is
//! `Clone`: wrap it in [`Retryable`] (`examples/tcp_dialer.rs`).
//!
//! # Limits
//!
//! A [`RetryPolicy`] bounds retrying by a number of retries, an optional
//! deadline measured from the first attempt, a [`Backoff`] whose pauses grow
//! exponentially up to a cap, with a [`Jitter`], and a [`RetryBudget`] (on
//! by default, one per authority, shared by every clone of the layer) that
//! caps the extra load retries add. While an authority's connects fail, one
//! retry at a time probes it and the others wait for it to answer (up to
//! the budget's `max_wait`, 5 s by default), then go as fast as it keeps
//! answering (a window that grows with its answers and halves with its
//! failures, as TCP's): see [`RetryBudget`] for what that does in an outage
//! and why, and
//! [`RetryPolicyBuilder::no_budget`] to turn it off. Invalid settings are a
//! [`ConfigError`] from [`RetryPolicyBuilder::build`], never a panic.
//!
//! # Tracing
//!
//! Nothing is logged on the happy path. Each retry and each request that
//! gives up is a `debug` event; a `warn` summary, at most one a second per
//! policy, counts the requests that gave up. A request is named by its
//! method and authority only: **the path and query, which may carry
//! secrets, are never logged.**
//!
//! Every event has the target `tower_conn_retry`, whichever module writes
//! it, so one directive selects them: `tower_conn_retry=debug` for all of
//! them, `tower_conn_retry=warn` for the summaries alone (in `RUST_LOG`, or
//! `EnvFilter`):
//!
//! ```
//! use tracing_subscriber::EnvFilter;
//!
//! let filter = EnvFilter::new("info,tower_conn_retry=debug");
//! # let _ = filter;
//! ```
//!
//! The events, their levels and fields, the `reason` values and what each
//! means, and what is stable about them: [the events' reference](RetryPolicy#tracing-events).
//!
//! # Features
//!
//! - `hyper` (default): the default classifier reads hyper's and
//!   hyper-util's errors, and [`RetryPolicyBuilder::timer`] takes any
//!   `hyper::rt::Timer`.
//! - `http2` (default): HTTP/2's "not processed" signals are read from
//!   `h2::Error` ([`ErrorClass::NotProcessed`]).
//! - `metrics`: the counts of [`RetryStats`] are published through the
//!   [`metrics`](https://docs.rs/metrics) facade (see [Metrics](#metrics)).
//!
//! - `tonic`: `tonic::RetryChannel` wraps a tonic `Channel` in one line,
//!   and the default classifier reads `tonic::transport::Error`.
//!
//! With `default-features = false` the layer is generic, with no hyper in
//! the tree.
//!
//! # Metrics
//!
//! With the `metrics` feature, the layer publishes what [`RetryStats`]
//! counts through the `metrics` facade; the application installs the
//! recorder (for example metrics-exporter-prometheus), **at startup**: the
//! happy path counts on a handle cached at the first request. The names,
//! types and labels, and why they are these: [the metrics'
//! reference](RetryStats#metrics).
//!
//! # Layout
//!
//! The source is laid out by concern, each folder a subsystem with a small
//! `mod.rs` that says what it holds (`ARCHITECTURE.md` in the repository
//! has the whole map and the invariants). A call goes `layer` →
//! `service` → `future` (the retry loop), which asks `classify` what an
//! error was, `admission` (budget and gate, per authority) whether a retry
//! may go, and `timer` for the pause, and tells `observe` (counts, stats,
//! metrics, events) what happened. `policy`, `backoff`, `request` and
//! `replay` are the settings and the request's side; `integrations` holds
//! the `reqwest` and `tonic` modules. The vocabulary several concerns
//! share (`classify/error_class.rs`, `give_up.rs`) imports nothing of the
//! crate, and no two files import each other but `layer.rs` and
//! `service.rs` (tower's convention: `Retry::layer` returns a
//! `RetryLayer`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    rustdoc::broken_intra_doc_links
)]

mod admission;
mod backoff;
mod classify;
pub mod future;
mod give_up;
mod integrations;
mod layer;
mod observe;
mod policy;
mod replay;
mod request;
mod service;
mod timer;

#[cfg(feature = "reqwest")]
pub use integrations::reqwest;
#[cfg(feature = "tonic")]
pub use integrations::tonic;

pub use admission::budget::{BudgetScope, RetryBudget};
pub use backoff::{Backoff, Delays, Jitter};
pub use classify::classifier::{
    is_idempotent, BoxedConnectorClassifier, Classify, ConnectorClassifier, DefaultClassified,
    DefaultClassifier,
};
pub use classify::error_class::ErrorClass;
pub use layer::RetryLayer;
pub use observe::attempt_count::AttemptCount;
pub use observe::stats::{AuthorityStats, ByClass, GiveUps, RetryCounts, RetryStats};
pub use policy::{ConfigError, RetryPolicy, RetryPolicyBuilder};
pub use replay::{ReplayBody, ReplayError};
pub use request::{Attempts, CloneRequest, RecordAttempts, RequestHead, Retryable};
pub use service::Retry;

/// The README's examples, compiled as doctests so they cannot rot (its
/// integration sections need every feature: CI runs
/// `cargo test --all-features --doc`).
#[cfg(all(
    doctest,
    feature = "hyper",
    feature = "reqwest",
    feature = "tonic",
    feature = "metrics"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
