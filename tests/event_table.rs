//! The table of events in the crate docs (`RetryPolicy`'s `# Tracing events`),
//! row by row: each event is produced here and its level, target, message
//! and exact field names checked, so a change to any of them fails a test
//! before it reaches a CHANGELOG.
//!
//! A test binary of its own, in which every test installs a subscriber:
//! `tracing` caches each callsite's interest process-wide, so a test
//! thread without one that reaches a callsite first could hide its events
//! from a test that captures them.

mod support;

use std::io::{self, ErrorKind};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Service};
use tower_conn_retry::{
    Backoff, CloneRequest, Jitter, RecordAttempts, ReplayBody, Retry, RetryBudget, RetryPolicy,
};
use tracing::Level;

use support::events::{Captured, Events};
use support::mock::{Mock, Outcome};

/// The one target of every event of the crate.
const TARGET: &str = "tower_conn_retry";

/// The retry event's fields, in order (the message first; `timeout` only after a timeout;
/// `policy`, `method`, `authority` only when there is one).
const RETRY: &[&str] = &[
    "message",
    "policy",
    "attempt",
    "class",
    "method",
    "authority",
    "error",
    "pause_ms",
];

/// The give-up event's fields, in order (the message first; `timeout` only after a timeout).
const GIVE_UP: &[&str] = &[
    "message",
    "policy",
    "attempts",
    "class",
    "reason",
    "method",
    "authority",
    "error",
];

/// The reasons a request gives up for: the give-up event's `reason`
/// values, and the summary's per-reason fields, in the summary's order.
const REASONS: [&str; 9] = [
    "retries_spent",
    "deadline",
    "budget",
    "no_timer",
    "waited",
    "queue_full",
    "not_idempotent",
    "not_copyable",
    "after_redirect",
];

/// The summary's fields, in order (`since_ms` from the second summary on;
/// `policy`, `method`, `authority`, `error` only when there is one).
fn summary_fields() -> Vec<&'static str> {
    let mut fields = vec!["message", "policy", "requests"];
    fields.extend(REASONS);
    fields.extend([
        "connect",
        "not_processed",
        "connection_lost",
        "since_ms",
        "method",
        "authority",
        "error",
    ]);
    fields
}

const RETRY_MESSAGE: &str = "message=connection failure; retrying ";
const GIVE_UP_MESSAGE: &str = "message=connection failure returned: ";
const SUMMARY_MESSAGE: &str = "message=connection failures returned to callers (at most one such warning a second; each is a debug event) ";

/// `all` without the names in `absent`.
fn without(all: &[&'static str], absent: &[&str]) -> Vec<&'static str> {
    all.iter()
        .copied()
        .filter(|name| !absent.contains(name))
        .collect()
}

fn assert_row(event: &Captured, level: Level, message: &str, names: &[&str]) {
    assert_eq!(event.level, level, "{event:?}");
    assert_eq!(event.target, TARGET, "{event:?}");
    assert!(event.has(message), "{event:?}");
    assert_eq!(event.names, names, "{event:?}");
}

/// The events whose message starts with `message`.
fn with_message(events: &Events, message: &str) -> Vec<Captured> {
    events
        .all()
        .into_iter()
        .filter(|e| e.has(message))
        .collect()
}

fn named(name: &str) -> tower_conn_retry::RetryPolicyBuilder {
    RetryPolicy::builder().name(name)
}

fn exact(builder: tower_conn_retry::RetryPolicyBuilder) -> tower_conn_retry::RetryPolicyBuilder {
    builder.backoff(Backoff::exponential(Duration::from_millis(50)).jitter(Jitter::None))
}

fn get(uri: &str) -> Request<String> {
    Request::get(uri).body(String::new()).unwrap()
}

fn refused(times: usize) -> Mock {
    Mock::new((0..times).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)))
}

/// Lost connections: their retries are charged to the budget (a refused
/// connect's are not).
fn reset(times: usize) -> Mock {
    Mock::new((0..times).map(|_| Outcome::Fail(ErrorKind::ConnectionReset)))
}

async fn send(mut service: Retry<Mock>, request: Request<String>) -> io::Result<()> {
    service.ready().await?.call(request).await.map(drop)
}

/// The summary written one interval after the first give-up.
async fn summary(events: &Events) -> Captured {
    tokio::time::sleep(Duration::from_millis(1001)).await;
    let warn = events.at(Level::WARN);
    assert_eq!(warn.len(), 1, "{warn:?}");
    warn[0].clone()
}

// ===== the retry event =====

#[tokio::test(start_paused = true)]
async fn the_retry_event() {
    let (events, _guard) = Events::capture();
    let policy = exact(named("orders")).no_budget().build().unwrap();
    let service = Retry::new(refused(1), policy);

    send(service, get("http://127.0.0.1:9/items?token=secret"))
        .await
        .unwrap();

    let all = events.all();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_row(&all[0], Level::DEBUG, RETRY_MESSAGE, RETRY);
    for field in [
        "policy=\"orders\" ",
        "attempt=2 ",
        "class=\"connect\" ",
        "method=\"GET\" ",
        "authority=\"127.0.0.1:9\" ",
        "pause_ms=50 ",
    ] {
        assert!(all[0].has(field), "{field}: {:?}", all[0]);
    }
    assert!(
        !all[0].has("items") && !all[0].has("secret"),
        "{:?}",
        all[0]
    );
}

/// A retry after a per-attempt timeout says `timeout=true`, after `pause_ms`.
#[tokio::test(start_paused = true)]
async fn the_retry_event_after_a_timeout() {
    let (events, _guard) = Events::capture();
    let slow = service_fn(|_: Request<String>| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, tower::BoxError>(http::Response::new(String::new()))
    });
    let timing_out = tower::timeout::Timeout::new(slow, Duration::from_secs(1));
    let policy = exact(RetryPolicy::builder())
        .max_retries(1)
        .no_budget()
        .build()
        .unwrap();
    let service = Retry::new(timing_out, policy);

    service
        .oneshot(get("http://127.0.0.1:9/"))
        .await
        .unwrap_err();

    let retries = with_message(&events, RETRY_MESSAGE);
    assert_eq!(retries.len(), 1, "{:?}", events.all());
    let mut names = without(RETRY, &["policy"]);
    names.push("timeout");
    assert_row(&retries[0], Level::DEBUG, RETRY_MESSAGE, &names);
    assert!(retries[0].has("timeout=true "), "{:?}", retries[0]);
}

// ===== the give-up event, one per reason, and its count in the summary =====

/// The one give-up event, for `reason`, and the summary that counts it:
/// `requests` give-ups in all, `expected` of them for `reason`.
async fn assert_give_up(events: &Events, reason: &str, requests: u64, expected: u64) {
    let give_ups: Vec<_> = with_message(events, GIVE_UP_MESSAGE)
        .into_iter()
        .filter(|e| e.has(&format!("reason=\"{reason}\" ")))
        .collect();
    assert_eq!(give_ups.len() as u64, expected, "{:?}", events.all());
    assert_row(&give_ups[0], Level::DEBUG, GIVE_UP_MESSAGE, GIVE_UP);
    assert!(give_ups[0].has("policy=\"events\" "), "{:?}", give_ups[0]);

    let summary = summary(events).await;
    assert_row(
        &summary,
        Level::WARN,
        SUMMARY_MESSAGE,
        &without(&summary_fields(), &["since_ms"]),
    );
    assert!(summary.has(&format!("requests={requests} ")), "{summary:?}");
    assert!(
        summary.has(&format!(" {reason}={expected} ")),
        "{summary:?}"
    );
    if requests == expected {
        // Nothing else gave up: every other reason counts 0.
        for other in REASONS.iter().filter(|other| **other != reason) {
            assert!(summary.has(&format!(" {other}=0 ")), "{summary:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn gives_up_with_retries_spent() {
    let (events, _guard) = Events::capture();
    let policy = exact(named("events"))
        .max_retries(1)
        .no_budget()
        .build()
        .unwrap();

    send(Retry::new(refused(2), policy), get("http://127.0.0.1:9/"))
        .await
        .unwrap_err();

    assert_give_up(&events, "retries_spent", 1, 1).await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_at_the_deadline() {
    let (events, _guard) = Events::capture();
    // Attempts at 0 and 50 ms; the next pause (100 ms) would end past 120.
    let policy = exact(named("events"))
        .max_elapsed(Duration::from_millis(120))
        .no_budget()
        .build()
        .unwrap();

    send(Retry::new(refused(10), policy), get("http://127.0.0.1:9/"))
        .await
        .unwrap_err();

    assert_give_up(&events, "deadline", 1, 1).await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_the_budget_refuses() {
    let (events, _guard) = Events::capture();
    let policy = exact(named("events"))
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();

    send(Retry::new(reset(10), policy), get("http://127.0.0.1:9/"))
        .await
        .unwrap_err();

    assert_give_up(&events, "budget", 1, 1).await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_waiting() {
    let (events, _guard) = Events::capture();
    // Requests to a refusing authority: one probes, the others wait
    // for the next probe (the probes 5 to 10, then 10 to 20, 20 to 40 ms
    // apart, growing); each gives up once it has waited 100 ms in all. (A
    // zero budget: a request left alone may not probe ahead of the gate's
    // interval at its own pace, which is charged.)
    let policy = named("events")
        .backoff(Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::None))
        .max_retries(20)
        .budget(
            RetryBudget::default()
                .ratio(0.0)
                .min_per_second(0)
                .max_wait(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    let service = Retry::new(refused(1_000), policy);

    // Six at once: the authority is down once 5 connects failed.
    let calls = (0..6).map(|_| send(service.clone(), get("http://127.0.0.1:9/")));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap_err();
    }

    // The five that wait give up for having waited. The sixth is the
    // prober: its pauses grow as the gate's probe interval does, so it
    // usually finds its turn taken once and waits too, but in about 1 run
    // in 100 each of its probes comes due as its pause ends, and it spends
    // its 20 retries without waiting.
    let give_ups = with_message(&events, GIVE_UP_MESSAGE);
    let reasons: Vec<&str> = give_ups
        .iter()
        .map(|e| {
            let (_, after) = e.fields.split_once("reason=\"").expect("a reason");
            after.split('"').next().unwrap()
        })
        .collect();
    let waited = reasons.iter().filter(|r| **r == "waited").count();
    let spent = reasons.iter().filter(|r| **r == "retries_spent").count();
    assert_eq!(reasons.len(), 6, "{:?}", events.all());
    assert!(waited >= 5, "{reasons:?}");
    assert_eq!(waited + spent, 6, "{reasons:?}");
    let first_waited = give_ups
        .iter()
        .find(|e| e.has("reason=\"waited\" "))
        .unwrap();
    assert_row(first_waited, Level::DEBUG, GIVE_UP_MESSAGE, GIVE_UP);
    // The prober may give up after a second or more of pauses, past the
    // first summary's interval (1 run in 20). So the summaries, one or
    // two, count the six together.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let summaries = events.at(Level::WARN);
    let count = |name: &str| -> u64 {
        summaries
            .iter()
            .map(|summary| {
                let after = summary.fields.split(&format!(" {name}=")).nth(1);
                let digits: String = after
                    .unwrap_or_else(|| panic!("no {name} in {summary:?}"))
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<u64>().unwrap()
            })
            .sum()
    };
    assert_eq!(count("requests"), 6, "{summaries:?}");
    assert_eq!(count("waited"), waited as u64, "{summaries:?}");
    assert_eq!(count("retries_spent"), spent as u64, "{summaries:?}");
    for other in REASONS
        .iter()
        .filter(|other| !["waited", "retries_spent"].contains(other))
    {
        assert_eq!(count(other), 0, "{other}: {summaries:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_the_queue_is_full() {
    let (events, _guard) = Events::capture();
    // The authority down, the first retry to ask waits for the first probe
    // (one interval on), and the others find the one place taken.
    let policy = named("events")
        .backoff(Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::None))
        .max_retries(1)
        .budget(RetryBudget::default().max_waiting(1))
        .build()
        .unwrap();
    let service = Retry::new(refused(100), policy);

    // Seven at once: the authority is down once 5 connects failed.
    let calls = (0..7).map(|_| send(service.clone(), get("http://127.0.0.1:9/")));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap_err();
    }

    assert_give_up(&events, "queue_full", 7, 6).await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_on_a_lost_post() {
    let (events, _guard) = Events::capture();
    let policy = exact(named("events")).no_budget().build().unwrap();
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let post = Request::post("http://127.0.0.1:9/")
        .body(String::new())
        .unwrap();

    send(Retry::new(mock, policy), post).await.unwrap_err();

    assert_give_up(&events, "not_idempotent", 1, 1).await;
}

#[tokio::test(start_paused = true)]
async fn gives_up_on_a_request_that_cannot_be_copied() {
    let (events, _guard) = Events::capture();
    // Reads the whole body (past the replay limit), then fails to connect.
    let reading = service_fn(|request: Request<ReplayBody<Full<Bytes>>>| async move {
        let _ = request.into_body().collect().await;
        Err::<http::Response<String>, _>(io::Error::from(ErrorKind::ConnectionRefused))
    });
    let policy = exact(named("events")).no_budget().build().unwrap();
    let body = ReplayBody::new(Full::new(Bytes::from(vec![7; 1024])), 16);
    let request = Request::put("http://127.0.0.1:9/").body(body).unwrap();

    Retry::new(reading, policy)
        .oneshot(request)
        .await
        .unwrap_err();

    assert_give_up(&events, "not_copyable", 1, 1).await;
}

/// Without a time driver, no pause can be had: the request gives up, and
/// as no timer task can write the summary later, it is written at once.
#[test]
fn gives_up_without_a_timer() {
    let (events, _guard) = Events::capture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let policy = exact(named("events")).no_budget().build().unwrap();
        send(Retry::new(refused(10), policy), get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
    });

    let give_ups = with_message(&events, GIVE_UP_MESSAGE);
    assert_eq!(give_ups.len(), 1, "{:?}", events.all());
    assert_row(&give_ups[0], Level::DEBUG, GIVE_UP_MESSAGE, GIVE_UP);
    assert!(give_ups[0].has("reason=\"no_timer\" "), "{:?}", give_ups[0]);
    let warn = events.at(Level::WARN);
    assert_eq!(warn.len(), 1, "{:?}", events.all());
    assert!(
        warn[0].has("requests=1 ") && warn[0].has(" no_timer=1 "),
        "{:?}",
        warn[0]
    );
}

// ===== the summary =====

/// The first summary has no `since_ms`; the next one says how long since
/// the last; each names an example give-up (method, authority, error).
#[tokio::test(start_paused = true)]
async fn the_summary() {
    let (events, _guard) = Events::capture();
    let policy = exact(named("billing"))
        .max_retries(1)
        .no_budget()
        .build()
        .unwrap();
    let service = Retry::new(refused(10), policy);

    send(service.clone(), get("http://127.0.0.1:9/a?token=secret"))
        .await
        .unwrap_err();
    let gave_up_at = tokio::time::Instant::now();
    let first = summary(&events).await;
    assert_row(
        &first,
        Level::WARN,
        SUMMARY_MESSAGE,
        &without(&summary_fields(), &["since_ms"]),
    );
    for field in [
        "policy=\"billing\" ",
        "requests=1 ",
        "retries_spent=1 ",
        "connect=1 ",
        "not_processed=0 ",
        "connection_lost=0 ",
        "method=\"GET\" ",
        "authority=\"127.0.0.1:9\" ",
        "error=Custom { kind: ConnectionRefused",
    ] {
        assert!(first.has(field), "{field}: {first:?}");
    }
    assert!(!first.has("secret"), "{first:?}");

    tokio::time::sleep(Duration::from_secs(4)).await;
    send(service.clone(), get("http://127.0.0.1:9/b"))
        .await
        .unwrap_err();
    // Each summary is written one interval after the first give-up of its
    // interval: they are as far apart as the two give-ups.
    let apart = gave_up_at.elapsed().as_millis();
    tokio::time::sleep(Duration::from_millis(1001)).await;
    let warn = events.at(Level::WARN);
    assert_eq!(warn.len(), 2, "{warn:?}");
    assert_row(&warn[1], Level::WARN, SUMMARY_MESSAGE, &summary_fields());
    assert!(warn[1].has(&format!("since_ms={apart} ")), "{:?}", warn[1]);

    // Dropping the policy (its last service) writes what is left at once.
    send(service, get("http://127.0.0.1:9/c"))
        .await
        .unwrap_err();
    let warn = events.at(Level::WARN);
    assert_eq!(warn.len(), 3, "{warn:?}");
    assert!(warn[2].has("requests=1 "), "{:?}", warn[2]);
}

// ===== the span field =====

#[tokio::test(start_paused = true)]
async fn the_resend_count_span_field() {
    use tracing::Instrument;

    let (events, _guard) = Events::capture();
    let policy = exact(RetryPolicy::builder()).no_budget().build().unwrap();
    let span = tracing::info_span!(
        "HTTP GET",
        "http.request.resend_count" = tracing::field::Empty
    );

    send(Retry::new(refused(2), policy), get("http://127.0.0.1:9/"))
        .instrument(span)
        .await
        .unwrap();

    assert_eq!(events.records(), ["http.request.resend_count=2 "]);
}

// ===== what a request does not name is left out =====

/// An origin-form request (as above a tonic `Channel`) names no authority:
/// the field is absent from each event, not empty.
#[tokio::test(start_paused = true)]
async fn an_origin_form_request_has_no_authority_field() {
    let (events, _guard) = Events::capture();
    let policy = exact(RetryPolicy::builder())
        .max_retries(1)
        .no_budget()
        .build()
        .unwrap();

    send(Retry::new(refused(2), policy), get("/path?token=secret"))
        .await
        .unwrap_err();
    summary(&events).await;

    let all = events.all();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_row(
        &all[0],
        Level::DEBUG,
        RETRY_MESSAGE,
        &without(RETRY, &["policy", "authority"]),
    );
    assert_row(
        &all[1],
        Level::DEBUG,
        GIVE_UP_MESSAGE,
        &without(GIVE_UP, &["policy", "authority"]),
    );
    assert_row(
        &all[2],
        Level::WARN,
        SUMMARY_MESSAGE,
        &without(&summary_fields(), &["policy", "since_ms", "authority"]),
    );
    for event in &all {
        assert!(event.has("method=\"GET\" "), "{event:?}");
        assert!(!event.has("path") && !event.has("secret"), "{event:?}");
    }
}

/// A connector's request, a `Uri`, has an authority but no method.
#[tokio::test(start_paused = true)]
async fn a_uri_request_has_no_method_field() {
    let (events, _guard) = Events::capture();
    let connector =
        service_fn(|_: Uri| async { Err::<(), _>(io::Error::from(ErrorKind::ConnectionRefused)) });
    let policy = exact(RetryPolicy::builder())
        .max_retries(1)
        .no_budget()
        .build()
        .unwrap();

    Retry::new(connector, policy)
        .oneshot(Uri::from_static("http://127.0.0.1:9"))
        .await
        .unwrap_err();
    summary(&events).await;

    let all = events.all();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_row(
        &all[0],
        Level::DEBUG,
        RETRY_MESSAGE,
        &without(RETRY, &["policy", "method"]),
    );
    assert_row(
        &all[1],
        Level::DEBUG,
        GIVE_UP_MESSAGE,
        &without(GIVE_UP, &["policy", "method"]),
    );
    assert_row(
        &all[2],
        Level::WARN,
        SUMMARY_MESSAGE,
        &without(&summary_fields(), &["policy", "since_ms", "method"]),
    );
    for event in &all {
        assert!(event.has("authority=\"127.0.0.1:9\" "), "{event:?}");
    }
}

/// A request type of one's own, with no HTTP head.
#[derive(Clone)]
struct Lookup;

impl CloneRequest for Lookup {
    fn clone_request(&self) -> Option<Self> {
        Some(Lookup)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

impl<Resp> RecordAttempts<Resp> for Lookup {
    fn record_attempts(_: &mut Resp, _: u32) {}
}

#[tokio::test(start_paused = true)]
async fn a_request_of_ones_own_has_neither_method_nor_authority() {
    let (events, _guard) = Events::capture();
    let lookups = service_fn(|_: Lookup| async {
        Err::<(), _>(io::Error::from(ErrorKind::ConnectionRefused))
    });
    // Under the default budget: its state is the one of requests that
    // name no authority.
    let policy = exact(RetryPolicy::builder())
        .max_retries(1)
        .build()
        .unwrap();

    Retry::new(lookups, policy)
        .oneshot(Lookup)
        .await
        .unwrap_err();
    summary(&events).await;

    let all = events.all();
    assert_eq!(all.len(), 3, "{all:?}");
    let absent = ["policy", "method", "authority"];
    assert_row(
        &all[0],
        Level::DEBUG,
        RETRY_MESSAGE,
        &without(RETRY, &absent),
    );
    assert_row(
        &all[1],
        Level::DEBUG,
        GIVE_UP_MESSAGE,
        &without(GIVE_UP, &absent),
    );
    assert_row(
        &all[2],
        Level::WARN,
        SUMMARY_MESSAGE,
        &without(
            &summary_fields(),
            &["policy", "since_ms", "method", "authority"],
        ),
    );
    for event in &all {
        assert!(
            !event.has("method=") && !event.has("authority="),
            "{event:?}"
        );
    }
}

// ===== the target =====

/// A subscriber that enables the crate's target and nothing else (as
/// `EnvFilter` with `tower_conn_retry=debug` does for the crate) sees each
/// event, and the events that ask whether `debug` is enabled before
/// saying more (a timeout, named so) ask it of the same target.
#[tokio::test(start_paused = true)]
async fn a_subscriber_of_the_one_target_sees_every_event() {
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    let events = Events::default();
    let exact = filter_fn(|metadata| metadata.target() == TARGET);
    let subscriber = tracing_subscriber::registry().with(events.clone().with_filter(exact));
    let _guard = tracing::subscriber::set_default(subscriber);
    let slow = service_fn(|_: Request<String>| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, tower::BoxError>(http::Response::new(String::new()))
    });
    let timing_out = tower::timeout::Timeout::new(slow, Duration::from_secs(1));
    let policy = exact_policy();
    let post = Request::post("http://127.0.0.1:9/")
        .body(String::new())
        .unwrap();

    Retry::new(timing_out, policy)
        .oneshot(post)
        .await
        .unwrap_err();

    let all = events.all();
    assert_eq!(all.len(), 2, "a give-up and the summary: {all:?}");
    assert!(
        all[0].has("timed out after the request may have been sent") && all[0].has("timeout=true "),
        "{:?}",
        all[0]
    );
    assert_eq!(all[1].level, Level::WARN, "{:?}", all[1]);
}

fn exact_policy() -> RetryPolicy {
    exact(RetryPolicy::builder()).no_budget().build().unwrap()
}

// ===== the summaries add up =====

/// The `requests` of a summary.
#[cfg(feature = "hyper")]
fn requests_of(summary: &Captured) -> u64 {
    let (_, rest) = summary
        .fields
        .split_once(" requests=")
        .unwrap_or_else(|| panic!("no requests field: {summary:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// 300 requests (in three waves) to a dead loopback port through a real client
/// under the default policy: its budget makes their retries wait for the
/// port, and all give up. Within two intervals of the last give-up the
/// summaries (the policy still alive: none is written by its drop) count
/// every one of them exactly once, a summary more than one: a burst is
/// summed, not reported request by request. The policy's stats
/// agree.
#[cfg(feature = "hyper")]
#[tokio::test(start_paused = true)]
async fn the_summaries_of_a_dead_port_add_up_to_every_request() {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    use support::client::{http_client, layered};

    const REQUESTS: u64 = 300;
    let (events, _guard) = Events::capture();
    let addr = support::server::unused_addr();
    let policy = RetryPolicy::builder().name("dead").build().unwrap();
    let (client, attempts) = layered(http_client(), policy);
    let uri: Uri = format!("http://{addr}/").parse().unwrap();

    // In three waves 700 ms apart, so the give-ups span more than one
    // interval.
    let calls: FuturesUnordered<_> = (0..REQUESTS)
        .map(|i| {
            let request = Request::get(uri.clone())
                .body(Full::new(Bytes::new()))
                .unwrap();
            let client = client.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(700 * (i % 3))).await;
                client.oneshot(request).await
            }
        })
        .collect();
    let outcomes: Vec<_> = calls.collect().await;
    for outcome in &outcomes {
        let error = outcome.as_ref().expect_err("nothing listens on the port");
        assert!(error.is_connect(), "{error:?}");
    }
    let give_ups = with_message(&events, GIVE_UP_MESSAGE);
    assert_eq!(give_ups.len() as u64, REQUESTS);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let summaries = events.at(Level::WARN);
    let counted: Vec<u64> = summaries.iter().map(requests_of).collect();
    assert_eq!(counted.iter().sum::<u64>(), REQUESTS, "{counted:?}");
    // A burst is summed (the first give-up may come alone: the gate's
    // prober spends its retries before the waiting ones give up).
    assert!(
        counted.iter().any(|&c| c > 1) && counted.len() > 1,
        "{counted:?}"
    );
    for summary in &summaries {
        assert!(summary.has("policy=\"dead\" "), "{summary:?}");
    }

    let stats = client.stats();
    assert_eq!(stats.total.requests, REQUESTS, "{stats:?}");
    assert_eq!(stats.total.failed(), REQUESTS, "{stats:?}");
    // The retries that waited and gave up were never sent: not counted.
    let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(stats.total.attempts(), attempts, "{stats:?}");
    drop(client);
    assert_eq!(events.at(Level::WARN).len(), summaries.len());
}
