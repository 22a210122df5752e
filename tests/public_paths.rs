//! Every public path of the crate, imported by name: a module moved inside
//! `src/` without its re-export fails to compile here.
//!
//! The paths are the crate's public API: the re-exports of `lib.rs`, the
//! public module `future`, and the feature modules `reqwest` and `tonic`.

#![allow(unused_imports)]

use tower_conn_retry::{
    is_idempotent, AttemptCount, Attempts, AuthorityStats, Backoff, BoxedConnectorClassifier,
    BudgetScope, ByClass, Classify, CloneRequest, ConfigError, ConnectorClassifier,
    DefaultClassified, DefaultClassifier, Delays, ErrorClass, GiveUps, Jitter, RecordAttempts,
    ReplayBody, ReplayError, RequestHead, Retry, RetryBudget, RetryCounts, RetryLayer, RetryPolicy,
    RetryPolicyBuilder, RetryStats, Retryable,
};

use tower_conn_retry::future::{Oneshot, Ready, ResponseFuture};

#[cfg(feature = "reqwest")]
use tower_conn_retry::reqwest::{
    classify, classify_connection_failures, is_retryable, RetryMiddleware,
};

#[cfg(feature = "tonic")]
use tower_conn_retry::tonic::{
    ResponseFuture as TonicResponseFuture, RetryChannel, RetryChannelLayer, DEFAULT_REPLAY_LIMIT,
};

/// The paths name what they did: a type of each kind is usable by its path.
#[test]
fn public_paths_name_their_items() {
    let policy: RetryPolicy = RetryPolicy::builder().build().unwrap();
    let _layer: RetryLayer = RetryLayer::new(policy);
    let _class: ErrorClass = ErrorClass::Connect;
    let _backoff: Backoff = Backoff::none();
    let _budget: RetryBudget = RetryBudget::default();
    let _idempotent: bool = is_idempotent(&http::Method::GET);
    #[cfg(feature = "tonic")]
    let _limit: usize = DEFAULT_REPLAY_LIMIT;
}
