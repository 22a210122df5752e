//! Shared by the benches: a realistic request, inner services that answer at
//! once, a `tower::retry` policy equivalent to ours, and a poll-once driver.
#![allow(dead_code)]

pub mod loopback;

use std::future::{ready, Future, Ready};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;
use tower::retry::Policy;
use tower::Service;

pub type Body = Full<Bytes>;

/// A request as a client sends it: a URI with a query, 5 headers, a small
/// body.
pub fn realistic_request() -> Request<Body> {
    Request::post("http://127.0.0.1:8080/v1/orders?customer=4711&expand=items")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "tower-conn-retry-bench/0.1")
        .header("x-request-id", "6f1c2a0e-8b7d-4c3e-9a51-2f0d9e7b1c44")
        .body(Full::new(Bytes::from_static(
            b"{\"item\":\"widget\",\"quantity\":3}",
        )))
        .unwrap()
}

/// The realistic request as a GET: idempotent, so `idempotent_only()`
/// copies it.
pub fn realistic_get_request() -> Request<Body> {
    let mut request = realistic_request();
    *request.method_mut() = http::Method::GET;
    request
}

/// Answers every request at once with an empty 200.
#[derive(Clone, Debug, Default)]
pub struct Immediate;

impl Service<Request<Body>> for Immediate {
    type Response = Response<Body>;
    type Error = io::Error;
    type Future = Ready<Result<Response<Body>, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        ready(Ok(Response::new(Body::default())))
    }
}

/// Refuses the first `failures` calls of every `failures + 1`, then answers:
/// each request fails `failures` times before it succeeds.
#[derive(Clone, Debug)]
pub struct FailsThenAnswers {
    calls: Arc<AtomicU32>,
    failures: u32,
}

impl FailsThenAnswers {
    pub fn new(failures: u32) -> Self {
        Self {
            calls: Arc::default(),
            failures,
        }
    }
}

impl Service<Request<Body>> for FailsThenAnswers {
    type Response = Response<Body>;
    type Error = io::Error;
    type Future = Ready<Result<Response<Body>, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        if call % (self.failures + 1) < self.failures {
            ready(Err(io::Error::from(io::ErrorKind::ConnectionRefused)))
        } else {
            ready(Ok(Response::new(Body::default())))
        }
    }
}

/// `tower::retry`'s equivalent of our policy, written the idiomatic way:
/// `clone_request` is `Some(request.clone())` (http derives `Clone` for
/// `Request<B: Clone>`), retry any error up to `retries` times, no pause.
#[derive(Clone, Debug)]
pub struct TowerUpTo(pub u32);

impl<Res, E> Policy<Request<Body>, Res, E> for TowerUpTo {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<Body>,
        result: &mut Result<Res, E>,
    ) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 0 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        Some(request.clone())
    }
}

/// [`TowerUpTo`] with state shared by every clone, as any `tower::retry`
/// policy with a budget has (tower's own `TpsBudget` is shared through an
/// `Arc`): each clone of the policy takes a reference, as each call of this
/// layer takes one on its shared policy.
#[derive(Clone, Debug)]
pub struct TowerUpToShared(pub u32, pub Arc<()>);

impl TowerUpToShared {
    pub fn new(retries: u32) -> Self {
        Self(retries, Arc::new(()))
    }
}

impl<Res, E> Policy<Request<Body>, Res, E> for TowerUpToShared {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Res, E>,
    ) -> Option<Self::Future> {
        let mut up_to = TowerUpTo(self.0);
        let retry = Policy::<Request<Body>, Res, E>::retry(&mut up_to, request, result);
        self.0 = up_to.0;
        retry
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        Some(request.clone())
    }
}

/// A `tower::retry` policy that never copies and never retries: tower's
/// machinery alone.
#[derive(Clone, Debug)]
pub struct TowerNeverClones;

impl<Res, E> Policy<Request<Body>, Res, E> for TowerNeverClones {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Request<Body>, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, _: &Request<Body>) -> Option<Request<Body>> {
        None
    }
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median over the rounds of `per_round[a][round] / per_round[b][round]`,
/// for benches whose variants alternate within each round.
pub fn per_round_ratio(per_round: &[Vec<f64>], a: usize, b: usize) -> f64 {
    median(
        per_round[a]
            .iter()
            .zip(&per_round[b])
            .map(|(a, b)| a / b)
            .collect(),
    )
}

/// Drives a service through one call whose futures are ready at once.
pub fn call_now<S, Req>(service: &mut S, request: Req) -> Result<S::Response, S::Error>
where
    S: Service<Req>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(error)) => return Err(error),
        Poll::Pending => panic!("the service was not ready at once"),
    }
    poll_now(service.call(request))
}

/// Polls a future once; it must be ready.
pub fn poll_now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future was not ready at once"),
    }
}
