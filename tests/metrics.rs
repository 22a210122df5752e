//! The counts published through the `metrics` facade, read back as the
//! Prometheus text a real recorder (metrics-exporter-prometheus) renders:
//! names, labels and values, after scripted runs through a real hyper
//! client on loopback, and equal to `RetryPolicy::stats`.
#![cfg(feature = "metrics")]

mod support;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, Retry, RetryBudget, RetryCounts, RetryPolicy};

use support::server::{serve_status, unused_addr};

type Body = Full<Bytes>;

/// An `HttpConnector` whose first `failures` connects go to a port nothing
/// listens on: a server that comes up late, as the client sees it (each of
/// those is a real refused connect, hyper-util's `is_connect()`).
#[derive(Clone)]
struct LateConnector {
    inner: HttpConnector,
    dead: Uri,
    failures: usize,
    connects: Arc<AtomicUsize>,
}

impl Service<Uri> for LateConnector {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = <HttpConnector as Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if self.connects.fetch_add(1, Ordering::SeqCst) < self.failures {
            self.inner.call(self.dead.clone())
        } else {
            self.inner.call(uri)
        }
    }
}

fn get(addr: SocketAddr) -> Request<Body> {
    Request::get(format!("http://{addr}/items"))
        .body(Body::default())
        .unwrap()
}

/// A fresh Prometheus recorder (no HTTP listener, no upkeep thread).
fn recorder() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// The rendered lines of `name` (samples only, no `# HELP`/`# TYPE`).
fn samples<'a>(rendered: &'a str, name: &str) -> Vec<&'a str> {
    rendered
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .collect()
}

/// The value of the sample `name{labels}`, if rendered.
fn value(rendered: &str, name: &str, labels: &str) -> Option<u64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.parse::<f64>().expect("a number") as u64)
}

/// The published counters of one label set equal `counts`.
fn assert_matches_stats(rendered: &str, labels: &str, counts: &RetryCounts) {
    let with = |extra: &str| {
        if labels.is_empty() {
            extra.to_owned()
        } else {
            format!("{labels},{extra}")
        }
    };
    let or_zero = |value: Option<u64>| value.unwrap_or(0);
    assert_eq!(
        value(rendered, "tower_conn_retry_requests_total", labels),
        Some(counts.requests),
        "requests"
    );
    for (class, count) in [
        ("connect", counts.retries.connect),
        ("not_processed", counts.retries.not_processed),
        ("connection_lost", counts.retries.connection_lost),
    ] {
        let labels = with(&format!("class=\"{class}\""));
        assert_eq!(
            or_zero(value(rendered, "tower_conn_retry_retries_total", &labels)),
            count,
            "retries of class {class}"
        );
    }
    assert_eq!(
        or_zero(value(
            rendered,
            "tower_conn_retry_retry_successes_total",
            labels
        )),
        counts.retry_successes,
        "retry successes"
    );
    // This label set's, by reason and class (which come after it).
    let head = format!("tower_conn_retry_give_ups_total{{{}", with("reason="));
    let give_ups: u64 = samples(rendered, "tower_conn_retry_give_ups_total")
        .iter()
        .filter(|line| line.starts_with(&head))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum();
    assert_eq!(give_ups, counts.failed(), "give-ups");
    assert_eq!(
        or_zero(value(
            rendered,
            "tower_conn_retry_budget_refused_total",
            labels
        )),
        counts.budget_refused(),
        "budget refused"
    );
}

/// (a) A late server: three refused connects, then an answer. Under the
/// default per-authority budget, the counts carry the policy's name and
/// the authority; the retries' waits at the gate are over (waiting 0).
#[tokio::test(flavor = "current_thread")]
async fn a_late_server_is_published_as_three_connect_retries_and_one_success() {
    let recorder = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (addr, served) = serve_status(StatusCode::OK).await;
    let connector = LateConnector {
        inner: HttpConnector::new(),
        dead: format!("http://{}/", unused_addr()).parse().unwrap(),
        failures: 3,
        connects: Arc::default(),
    };
    let client = Client::builder(TokioExecutor::new()).build::<_, Body>(connector);
    let policy = RetryPolicy::builder()
        .name("late")
        .max_retries(3)
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let mut service = Retry::new(client, policy);

    let response = service.ready().await.unwrap().call(get(addr)).await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_eq!(served.total(), 1);

    let rendered = recorder.handle().render();
    println!("{rendered}");
    let labels = format!("policy=\"late\",authority=\"http://{addr}\"");
    let expected = [
        format!("tower_conn_retry_requests_total{{{labels}}} 1"),
        format!("tower_conn_retry_retries_total{{{labels},class=\"connect\"}} 3"),
        format!("tower_conn_retry_retry_successes_total{{{labels}}} 1"),
        format!("tower_conn_retry_waiting{{{labels}}} 0"),
    ];
    for line in &expected {
        assert!(
            rendered.lines().any(|l| l == line),
            "missing {line:?} in\n{rendered}"
        );
    }
    assert!(samples(&rendered, "tower_conn_retry_give_ups_total").is_empty());
    assert!(samples(&rendered, "tower_conn_retry_budget_refused_total").is_empty());

    let stats = service.stats();
    assert_eq!(stats.authorities.len(), 1);
    let counts = stats.authorities[0].counts;
    assert_matches_stats(&rendered, &labels, &counts);
    assert_eq!(
        value(&rendered, "tower_conn_retry_budget_balance", &labels),
        counts.budget_balance,
        "the balance of the latest retry decision, unchanged since"
    );
}

/// (b) A zero budget refuses the retry: one give-up for reason `budget`,
/// also counted as refused by the budget.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_retry_is_published_as_a_budget_give_up() {
    let recorder = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    // A GET whose connection is reset after the request was read: its
    // retry is charged to the budget (a refused connect's is not).
    let (dead, _requests) = support::server::reset_after_reading_request().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let policy = RetryPolicy::builder()
        .name("refused")
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    let mut service = Retry::new(client, policy);

    let error = service
        .ready()
        .await
        .unwrap()
        .call(get(dead))
        .await
        .unwrap_err();
    assert!(!error.is_connect());

    let rendered = recorder.handle().render();
    println!("{rendered}");
    let labels = format!("policy=\"refused\",authority=\"http://{dead}\"");
    let stats = service.stats();
    let counts = stats.authorities[0].counts;
    assert_eq!(counts.give_ups.budget, 1);
    // The refused retry was never sent: not a retry (Envoy counts it in
    // `upstream_rq_retry_overflow`, not in `upstream_rq_retry`), and the
    // call made one attempt, as its `AttemptCount` says.
    assert_eq!(counts.retries.total(), 0, "{counts:?}");
    assert_eq!(counts.attempts(), 1);
    assert!(samples(&rendered, "tower_conn_retry_retries_total").is_empty());
    for line in [
        format!("tower_conn_retry_requests_total{{{labels}}} 1"),
        format!(
            "tower_conn_retry_give_ups_total{{{labels},reason=\"budget\",class=\"connection_lost\"}} 1"
        ),
        format!("tower_conn_retry_budget_refused_total{{{labels}}} 1"),
        format!("tower_conn_retry_budget_balance{{{labels}}} 0"),
    ] {
        assert!(
            rendered.lines().any(|l| l == line),
            "missing {line:?} in\n{rendered}"
        );
    }
    assert_matches_stats(&rendered, &labels, &counts);
}

/// (c) A dead port: the retries are spent, and the call gives up for
/// reason `retries_spent` (Envoy's `upstream_rq_retry_limit_exceeded`).
#[tokio::test(flavor = "current_thread")]
async fn a_dead_port_is_published_as_retries_spent() {
    let recorder = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dead = unused_addr();
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let policy = RetryPolicy::builder()
        .name("dead")
        .max_retries(2)
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let mut service = Retry::new(client, policy);

    let error = service
        .ready()
        .await
        .unwrap()
        .call(get(dead))
        .await
        .unwrap_err();
    assert!(error.is_connect());

    let rendered = recorder.handle().render();
    println!("{rendered}");
    let labels = format!("policy=\"dead\",authority=\"http://{dead}\"");
    for line in [
        format!("tower_conn_retry_requests_total{{{labels}}} 1"),
        format!("tower_conn_retry_retries_total{{{labels},class=\"connect\"}} 2"),
        format!(
            "tower_conn_retry_give_ups_total{{{labels},reason=\"retries_spent\",class=\"connect\"}} 1"
        ),
        format!("tower_conn_retry_waiting{{{labels}}} 0"),
    ] {
        assert!(
            rendered.lines().any(|l| l == line),
            "missing {line:?} in\n{rendered}"
        );
    }
    assert!(samples(&rendered, "tower_conn_retry_retry_successes_total").is_empty());
    assert!(samples(&rendered, "tower_conn_retry_budget_refused_total").is_empty());
    let stats = service.stats();
    assert_matches_stats(&rendered, &labels, &stats.authorities[0].counts);
}

/// Without a budget there is no authority state: the counts carry the
/// policy's name only, never an authority (whose number is unbounded);
/// an unnamed policy's carry no label at all.
#[tokio::test(flavor = "current_thread")]
async fn without_a_budget_no_authority_label_is_published() {
    let recorder = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let refusing = service_fn(|_: Request<String>| async {
        Err::<http::Response<String>, _>(std::io::Error::from(ErrorKind::ConnectionRefused))
    });
    for name in [Some("plain"), None] {
        let mut builder = RetryPolicy::builder()
            .max_retries(1)
            .backoff(Backoff::none())
            .no_budget();
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let mut service = Retry::new(refusing, builder.build().unwrap());
        for _ in 0..2 {
            let request = Request::get("http://127.0.0.1:9/")
                .body(String::new())
                .unwrap();
            service
                .ready()
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap_err();
        }
        let rendered = recorder.handle().render();
        let labels = name.map_or(String::new(), |name| format!("policy=\"{name}\""));
        assert_matches_stats(&rendered, &labels, &service.stats().total);
    }
    let rendered = recorder.handle().render();
    println!("{rendered}");
    assert!(!rendered.contains("authority="), "{rendered}");
    for line in [
        "tower_conn_retry_requests_total{policy=\"plain\"} 2",
        "tower_conn_retry_requests_total 2",
        "tower_conn_retry_retries_total{class=\"connect\"} 2",
        "tower_conn_retry_give_ups_total{reason=\"retries_spent\",class=\"connect\"} 2",
    ] {
        assert!(
            rendered.lines().any(|l| l == line),
            "missing {line:?} in\n{rendered}"
        );
    }
}

/// The `waiting` gauge counts the retries waiting at the gate now, as
/// `stats()` does: once the authority is down (5 connects failed), one
/// request's retry probes it while the others' wait for the probe's answer,
/// and none once they gave up (0).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_waiting_gauge_counts_the_retries_waiting_at_the_gate() {
    let recorder = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    // Each attempt is refused 10 ms after it began.
    let refusing = service_fn(|_: Request<String>| async {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        Err::<http::Response<String>, _>(std::io::Error::from(ErrorKind::ConnectionRefused))
    });
    let policy = RetryPolicy::builder()
        .name("gate")
        .max_retries(1)
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let service = Retry::new(refusing, policy);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move {
                let request = Request::get("http://127.0.0.1:9/")
                    .body(String::new())
                    .unwrap();
                service.ready().await.unwrap().call(request).await
            })
        })
        .collect();
    // The first attempts fail at 10 ms; at 15 ms one retry probes and the
    // others wait for its answer.
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let labels = "policy=\"gate\",authority=\"http://127.0.0.1:9\"";
    let rendered = recorder.handle().render();
    let waiting = service.stats().authorities[0].counts.waiting;
    assert!(waiting >= 1, "{waiting} waiting");
    assert_eq!(
        value(&rendered, "tower_conn_retry_waiting", labels),
        Some(waiting),
        "{rendered}"
    );

    for call in calls {
        call.await.unwrap().unwrap_err();
    }
    let rendered = recorder.handle().render();
    let counts = service.stats().authorities[0].counts;
    assert_eq!(counts.waiting, 0);
    assert_eq!(
        value(&rendered, "tower_conn_retry_waiting", labels),
        Some(0)
    );
    assert_eq!(counts.give_ups.total(), 6, "{counts:?}");
    assert_matches_stats(&rendered, labels, &counts);
}
