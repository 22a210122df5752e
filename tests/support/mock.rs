//! A scripted inner service: each call takes the next outcome from a script
//! and records what it was sent; readiness is checked on every call.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use tower::Service;

/// What one call of the mock returns.
#[derive(Debug)]
pub enum Outcome {
    Respond(StatusCode),
    Fail(io::ErrorKind),
}

/// What the mock saw, shared by every clone.
#[derive(Debug, Default)]
pub struct Seen {
    /// (method, body) of every call, in order.
    pub calls: Vec<(Method, String)>,
    /// Calls made without a successful `poll_ready` first.
    pub unready_calls: usize,
    /// `poll_ready` polls that returned Pending.
    pub pending_polls: usize,
}

#[derive(Debug)]
pub struct Mock {
    script: Arc<Mutex<VecDeque<Outcome>>>,
    seen: Arc<Mutex<Seen>>,
    /// Each clone answers `poll_ready` with Pending this many times first.
    pending_before_ready: usize,
    pending_left: usize,
    /// Once readiness was granted and not yet used by a call.
    ready: bool,
    /// `poll_ready` fails with this, once the first call has been made.
    ready_error_after_first_call: Option<io::ErrorKind>,
}

/// A clone starts unready, as a clone of tower's `Buffer` does: readiness
/// belongs to the instance that was polled, and is not copied.
impl Clone for Mock {
    fn clone(&self) -> Self {
        Self {
            script: self.script.clone(),
            seen: self.seen.clone(),
            pending_before_ready: self.pending_before_ready,
            pending_left: self.pending_before_ready,
            ready: false,
            ready_error_after_first_call: self.ready_error_after_first_call,
        }
    }
}

impl Mock {
    pub fn new(script: impl IntoIterator<Item = Outcome>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            seen: Arc::default(),
            pending_before_ready: 0,
            pending_left: 0,
            ready: false,
            ready_error_after_first_call: None,
        }
    }

    /// Each clone is Pending this many times before it is ready.
    pub fn pending_before_ready(mut self, times: usize) -> Self {
        self.pending_before_ready = times;
        self.pending_left = times;
        self
    }

    /// After the first call, `poll_ready` fails with `kind`.
    pub fn ready_error_after_first_call(mut self, kind: io::ErrorKind) -> Self {
        self.ready_error_after_first_call = Some(kind);
        self
    }

    pub fn seen(&self) -> Arc<Mutex<Seen>> {
        self.seen.clone()
    }
}

impl Service<Request<String>> for Mock {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, io::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        if let Some(kind) = self.ready_error_after_first_call {
            if !self.seen.lock().unwrap().calls.is_empty() {
                return Poll::Ready(Err(io::Error::new(kind, "poll_ready failed")));
            }
        }
        if self.pending_left > 0 {
            self.pending_left -= 1;
            self.seen.lock().unwrap().pending_polls += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let mut seen = self.seen.lock().unwrap();
        if !std::mem::take(&mut self.ready) {
            seen.unready_calls += 1;
        }
        self.pending_left = self.pending_before_ready;
        let attempt = seen.calls.len() + 1;
        seen.calls
            .push((request.method().clone(), request.body().clone()));
        let outcome = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Outcome::Respond(StatusCode::OK));
        Box::pin(async move {
            match outcome {
                Outcome::Respond(status) => {
                    let mut response = Response::new(format!("attempt {attempt}"));
                    *response.status_mut() = status;
                    Ok(response)
                }
                Outcome::Fail(kind) => Err(io::Error::new(kind, format!("attempt {attempt}"))),
            }
        })
    }
}
