//! The four clients compared, each the legacy hyper-util `Client` as users
//! build it, with its pool off: every request opens a connection of its
//! own and pays the handshake (as against a server that closes
//! connections, or many hosts).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_conn_retry::{RetryLayer, RetryPolicy};

use crate::connector::GreetedConnector;

pub type Request = http::Request<Full<Bytes>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type HttpService = BoxCloneService<Request, http::Response<Incoming>, BoxError>;

/// The clients compared, in the table's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The bare client.
    NoRetries,
    /// `tower::retry` with the policy people write by hand: every error,
    /// 3 times, a fixed 100 ms pause, no budget.
    TowerRetry,
    /// `RetryPolicy::builder().no_budget().build()`: the crate's defaults
    /// before the budget was on by default.
    NoBudget,
    /// `RetryPolicy::default()`: a budget per authority, retries wait.
    Defaults,
}

pub const VARIANTS: [Variant; 4] = [
    Variant::NoRetries,
    Variant::TowerRetry,
    Variant::NoBudget,
    Variant::Defaults,
];

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Variant::NoRetries => "no retries",
            Variant::TowerRetry => "tower::retry, every error x3, 100 ms",
            Variant::NoBudget => "no_budget(), 3 retries, full jitter",
            Variant::Defaults => "defaults (RetryPolicy::default())",
        }
    }

    /// A fresh client of this kind (fresh budgets too).
    pub fn client(self, connector: GreetedConnector) -> HttpService {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build::<_, Full<Bytes>>(connector);
        match self {
            Variant::NoRetries => client.map_err(BoxError::from).boxed_clone(),
            Variant::TowerRetry => ServiceBuilder::new()
                .retry(EveryError { left: 3 })
                .service(client)
                .map_err(BoxError::from)
                .boxed_clone(),
            Variant::NoBudget => ServiceBuilder::new()
                .layer(RetryLayer::new(
                    RetryPolicy::builder()
                        .no_budget()
                        .build()
                        .expect("the defaults are valid"),
                ))
                .service(client)
                .map_err(BoxError::from)
                .boxed_clone(),
            Variant::Defaults => ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()))
                .service(client)
                .map_err(BoxError::from)
                .boxed_clone(),
        }
    }
}

/// The `tower::retry::Policy` of tower's documentation, with the pause
/// most hand-written code adds: retry any error, `left` more times, after
/// a fixed 100 ms.
#[derive(Clone, Debug)]
pub struct EveryError {
    left: usize,
}

impl<Res, E> tower::retry::Policy<Request, Res, E> for EveryError {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut Request, result: &mut Result<Res, E>) -> Option<Self::Future> {
        if result.is_err() && self.left > 0 {
            self.left -= 1;
            Some(tokio::time::sleep(Duration::from_millis(100)))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        let mut copy = http::Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        Some(copy)
    }
}
