//! A URI's user information (`user:password@`) is a secret: what the layer
//! shows of a request's authority (the stats, the events) leaves it out,
//! and the stats name an authority as documented (`scheme://host:port`,
//! lowercase, the default port explicit).

use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex};

use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, Retry, RetryPolicy};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const URI: &str = "http://alice:hunter2@Example.COM/items";

/// `AuthorityStats::authority` is documented as `scheme://host:port`,
/// lowercase, the default port explicit; it was the spelling of the first
/// request, credentials included (`http://alice:hunter2@Example.COM`).
#[tokio::test]
async fn the_stats_name_an_authority_without_its_user_information() {
    let answering = service_fn(|_: http::Request<String>| async {
        Ok::<_, io::Error>(http::Response::new(String::new()))
    });
    let mut service = Retry::new(answering, RetryPolicy::default());
    let request = http::Request::get(URI).body(String::new()).unwrap();
    service.ready().await.unwrap().call(request).await.unwrap();

    let stats = service.stats();
    let names: Vec<&str> = stats
        .authorities
        .iter()
        .map(|a| a.authority.as_str())
        .collect();
    assert_eq!(names, ["http://example.com:80"]);
}

/// Every field value of every event, as text.
#[derive(Clone, Default)]
struct Fields(Arc<Mutex<String>>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0.lock().unwrap(), "{}={:?} ", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Fields {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = self.clone();
        event.record(&mut fields);
    }
}

/// The retry event, the give-up event and the summary name the request's
/// authority: never with the password the URI carries (the events already
/// leave out the path and query, "which may carry secrets").
#[tokio::test]
async fn the_events_name_an_authority_without_its_user_information() {
    let fields = Fields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
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
    let mut service = Retry::new(refusing, policy);
    let request = http::Request::get(URI).body(String::new()).unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    drop(service); // writes the summary

    let logged = fields.0.lock().unwrap().clone();
    assert!(logged.contains("Example.COM"), "{logged}");
    assert!(!logged.contains("hunter2"), "{logged}");
    assert!(!logged.contains("alice"), "{logged}");
}
