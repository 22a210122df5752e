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
//! | Message (starts with) | Level | Fields |
//! |---|---|---|
//! | `connection failure; retrying` | `debug` | `policy`, `attempt`, `class`, `method`, `authority`, `error`, `pause_ms`, `timeout` |
//! | `connection failure returned: ` and why, in words | `debug` | `policy`, `attempts`, `class`, `reason`, `timeout`, `method`, `authority`, `error` |
//! | `connection failures returned to callers` | `warn` | `policy`, `requests`, a count per reason (`retries_spent`, `deadline`, `budget`, `no_timer`, `waited`, `queue_full`, `not_idempotent`, `not_copyable`, `after_redirect`), a count per class (`connect`, `not_processed`, `connection_lost`), `since_ms`, `method`, `authority`, `error` |
//!
//! - The retry event is written when a retry is planned, before its pause
//!   and any wait for room in the budget: a retry the budget then refuses
//!   is followed by the request's give-up event, and is not counted in
//!   [`RetryCounts::retries`], which counts the retries sent.
//! - `policy`: the policy's [name](RetryPolicyBuilder::name); absent if it
//!   has none.
//! - `attempt`: the number of the attempt about to be made (2 for the
//!   first retry); `attempts`: the attempts made in all.
//! - `class`: the failure's [`ErrorClass::as_str`]: `connect`,
//!   `not_processed` or `connection_lost`.
//! - `method`, `authority`: the request's; each absent when the request
//!   names none (no authority in an origin-form URI such as `/path`, as
//!   above a tonic `Channel`; no method for a connector's `Uri`; neither
//!   for a request type of your own without a
//!   [`head`](CloneRequest::head)).
//! - `error`: the failed attempt's error, as `Debug` prints it (its text
//!   is the error's, and not stable).
//! - `pause_ms`: the pause before the retry, in milliseconds (a wait for
//!   room in the [`RetryBudget`] may follow).
//! - `timeout`: `true` when the failure was a timeout
//!   ([`Classify::is_timeout`]); absent otherwise.
//! - `reason`: why the failure was returned, each also a field of the
//!   summary counting the give-ups for it, and a field of [`GiveUps`]:
//!
//!   | `reason` | The failure was returned because |
//!   |---|---|
//!   | `retries_spent` | `max_retries` retries were made |
//!   | `deadline` | the next pause would end past `max_elapsed` |
//!   | `budget` | the budget refused the retry outright |
//!   | `no_timer` | no timer could be had for the pause |
//!   | `waited` | the retry waited for room, or for its authority to answer, until `max_wait` or the deadline |
//!   | `queue_full` | too many requests already waited at the authority ([`RetryBudget::max_waiting`]) |
//!   | `not_idempotent` | the connection was lost (or timed out) after the request may have been sent, and the request is not idempotent |
//!   | `not_copyable` | the request could not be copied again (a [`ReplayBody`] past its limit) |
//!   | `after_redirect` | a connect failed (or a stream was refused) where the client follows redirects below the layer, so it may be a later hop's after the first server processed the request, and the request is not idempotent (reqwest's `RetryMiddleware` by default) |
//!
//! - `requests`: the give-ups the summary counts: those since the previous
//!   summary. The summary is written one interval (1 s) after the first
//!   give-up that follows it, so a burst of failures is one summary
//!   (without a tokio runtime to time it, a give-up writes it once an
//!   interval has passed since the previous one); what is left is written
//!   when the policy (its last clone, layer or service) is dropped. Every
//!   give-up is in exactly one summary.
//! - `since_ms`: the time since the previous summary, in milliseconds;
//!   absent in the first.
//! - `method`, `authority`, `error` of the summary: those of one request
//!   of the interval, an example.
//!
//! The layer also records OpenTelemetry's `http.request.resend_count` on
//! the caller's current span, if the span declared the field (say, as
//! `tracing::field::Empty`): once, as a call that was resent ends, with
//! the number of resends; nothing for a call that was not.
//!
//! **These are stable**: the target, the messages' beginnings, the levels,
//! the field names and their meanings, and the `reason` and `class` values
//! change only in a major release (in 0.x, a minor one), and every change
//! is listed in the CHANGELOG. Fields may be added in any release.
//!
//! # Features
//!
//! - `hyper` (default): the default classifier reads hyper's and
//!   hyper-util's errors, and [`RetryPolicyBuilder::timer`] takes any
//!   `hyper::rt::Timer`.
//! - `http2` (default): HTTP/2's "not processed" signals are read from
//!   `h2::Error` ([`ErrorClass::NotProcessed`]).
//! - `metrics`: the counts of [`RetryStats`] are published through the
//!   [`metrics`](https://docs.rs/metrics) facade (see `# Metrics`).
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
//! recorder (for example metrics-exporter-prometheus), **at startup**:
//!
//! | name | type | labels besides `policy`, `authority` | meaning |
//! |---|---|---|---|
//! | `tower_conn_retry_requests_total` | counter | | calls through the layer |
//! | `tower_conn_retry_retries_total` | counter | `class` | retries, by the class of the failure they followed (Envoy's `upstream_rq_retry`) |
//! | `tower_conn_retry_retry_successes_total` | counter | | calls answered after at least one retry (`upstream_rq_retry_success`) |
//! | `tower_conn_retry_give_ups_total` | counter | `reason`, `class` | calls whose connection failure was returned; `reason="retries_spent"` is `upstream_rq_retry_limit_exceeded` |
//! | `tower_conn_retry_budget_refused_total` | counter | | give-ups for `budget`, `waited` or `queue_full` (`upstream_rq_retry_overflow`) |
//! | `tower_conn_retry_waiting` | gauge | | retries waiting now at their authority's gate |
//! | `tower_conn_retry_budget_balance` | gauge | | the retries the budget allowed as of its latest retry decision |
//!
//! Every metric also carries `policy` (the
//! [name](RetryPolicyBuilder::name); left out when unnamed) and, under a
//! per-authority budget, `authority` (`scheme://host:port`, lowercase, the
//! default port explicit, no user information; `(overflow)` for the
//! authorities past [`max_authorities`](RetryBudget::max_authorities), and
//! for an authority first seen after the policy labelled
//! `max_authorities` others, so the label has at most `max_authorities + 1`
//! values per policy, however many authorities come and go). Without a budget, under a shared one,
//! and for a request that names no authority, there is no `authority`
//! label. `class` is `connect`, `not_processed` or `connection_lost`;
//! `reason` is `retries_spent`, `deadline`, `budget`, `waited`,
//! `queue_full`, `no_timer`, `not_idempotent`, `not_copyable` or
//! `after_redirect` (the
//! fields of [`GiveUps`]). The two gauges are per budget: they need one.
//!
//! The happy path adds one to a handle cached at the policy's (or the
//! authority's) first request: no clock read, no allocation, no `Key`
//! built. A recorder installed after that first request is not seen by that
//! handle (a no-op handle cannot be told from a live one in `metrics`
//! 0.24), hence "at startup"; the other metrics are registered when they
//! happen. An authority forgotten to make room keeps its series where the
//! recorder keeps them (its counts stay in [`RetryStats::total`]).
//!
//! The names follow Prometheus (`_total` on counters: the Prometheus
//! exporter renders names as given) and Envoy's retry statistics, which
//! operators already chart. OpenTelemetry's HTTP client conventions
//! measure `http.client.request.duration`, a histogram: that needs a clock
//! read per request, which this layer does not make on the happy path, and
//! the client or a tracing layer around it already measures the call; the
//! retries of a call are recorded as `http.request.resend_count` on the
//! current span instead.

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

/// The README's examples, compiled as doctests so they cannot rot.
#[cfg(all(doctest, feature = "hyper"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
