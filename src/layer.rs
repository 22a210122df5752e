//! The `Layer` that wraps a service in [`Retry`].

use std::sync::Arc;

use tower_layer::Layer;

use crate::classify::classifier::DefaultClassifier;
use crate::observe::stats::RetryStats;
use crate::policy::RetryPolicy;
use crate::service::Retry;

/// Wraps a service in [`Retry`] with a [`RetryPolicy`].
///
/// Every service the layer wraps shares the same policy settings.
///
/// # Example
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_conn_retry::{RetryLayer, RetryPolicy};
///
/// let service = ServiceBuilder::new()
///     .layer(RetryLayer::new(RetryPolicy::default()))
///     .service_fn(|request: http::Request<String>| async move {
///         Ok::<_, std::io::Error>(http::Response::new(request.into_body()))
///     });
/// # let _ = service;
/// ```
#[derive(Debug)]
pub struct RetryLayer<C = DefaultClassifier> {
    // Shared by every service the layer makes.
    policy: Arc<RetryPolicy<C>>,
}

impl<C> Clone for RetryLayer<C> {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
        }
    }
}

/// A layer with [`RetryPolicy::default()`].
impl Default for RetryLayer {
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

impl<C> RetryLayer<C> {
    /// A layer retrying by `policy`.
    pub fn new(policy: RetryPolicy<C>) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C> {
        &self.policy
    }

    /// What the requests of the services this layer made went through so
    /// far: see [`RetryPolicy::stats`].
    ///
    /// ```
    /// use tower_conn_retry::{RetryLayer, RetryPolicy};
    ///
    /// let layer = RetryLayer::new(RetryPolicy::builder().name("search").build()?);
    /// assert_eq!(layer.stats().total.requests, 0);
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    pub fn stats(&self) -> RetryStats {
        self.policy.stats()
    }
}

impl<S, C> Layer<S> for RetryLayer<C> {
    type Service = Retry<S, C>;

    fn layer(&self, service: S) -> Self::Service {
        Retry::shared(service, Arc::clone(&self.policy))
    }
}
