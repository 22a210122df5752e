//! The give-up summary across runtimes: a summary armed on a runtime that
//! shuts down before its interval ends must still be written, and must not
//! silence the summaries of the give-ups that follow on another runtime.

use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::{service_fn, Service, ServiceExt};
use tower_conn_retry::{Backoff, Retry, RetryPolicy};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The `requests` field of each `warn` summary, in order.
#[derive(Clone, Default)]
struct Summaries(Arc<Mutex<Vec<u64>>>);

struct Requests(Option<u64>);

impl Visit for Requests {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "requests" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Summaries {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() != Level::WARN {
            return;
        }
        let mut requests = Requests(None);
        event.record(&mut requests);
        if let Some(requests) = requests.0 {
            self.0.lock().unwrap().push(requests);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// One call that is refused twice and gives up (retries spent).
async fn give_up<S>(mut service: S)
where
    S: Service<http::Request<String>, Error = io::Error>,
{
    let request = http::Request::get("http://127.0.0.1:9/")
        .body(String::new())
        .unwrap();
    let result = service.ready().await.unwrap().call(request).await;
    assert!(result.is_err());
}

/// A policy used on one short-lived runtime, then on another (a policy in
/// a `static`, shared by `#[tokio::test]`s, or by a CLI's per-command
/// runtimes). The first give-up spawns the summary's timer task on runtime
/// A; A is dropped before the interval ends, so the task is dropped unrun.
/// The summary must not stay armed forever: the give-up on runtime B is
/// reported within an interval, and both give-ups are in the summaries.
#[test]
fn a_summary_armed_on_a_runtime_that_shut_down_is_still_written() {
    let summaries = Summaries::default();
    let subscriber = tracing_subscriber::registry().with(summaries.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let refusing = service_fn(|_: http::Request<String>| async {
        Err::<http::Response<String>, _>(io::Error::from(ErrorKind::ConnectionRefused))
    });
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap();
    let service = Retry::new(refusing, policy);

    runtime().block_on(give_up(service.clone()));
    runtime().block_on(async {
        give_up(service.clone()).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    });

    let written: Vec<u64> = summaries.0.lock().unwrap().clone();
    assert_eq!(
        written.iter().sum::<u64>(),
        2,
        "summaries written while the policy lives: {written:?}"
    );
    drop(service);
}
