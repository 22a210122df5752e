//! The `authority` label's values stay bounded when the authorities come
//! from user input: the table forgets idle authorities to make room, but
//! a recorder keeps every series it was given.
#![cfg(feature = "metrics")]

use std::collections::HashSet;

use metrics_exporter_prometheus::PrometheusBuilder;
use tower::{service_fn, Service};
use tower_conn_retry::{Retry, RetryBudget, RetryPolicy};

/// 200 requests, each to an authority of its own (a crawler, a webhook
/// sender, a proxy: the URI comes from user input), through a policy that
/// tracks at most 4 authorities. Each authority is idle once its request
/// is answered, so the table forgets it to make room for the next; but
/// every forgotten authority's series stays in the recorder, and each new
/// one adds another `authority` value: without a bound on the values the
/// policy ever labels, the recorder grows by one series per authority
/// for as long as the process runs, although the crate docs say the
/// label's values are bounded.
#[tokio::test(flavor = "current_thread")]
async fn the_authority_label_has_at_most_max_authorities_values_and_overflow() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let answering = service_fn(|_: http::Request<String>| async {
        Ok::<_, std::io::Error>(http::Response::new(String::new()))
    });
    let policy = RetryPolicy::builder()
        .budget(RetryBudget::default().max_authorities(4))
        .build()
        .unwrap();
    let mut service = Retry::new(answering, policy.clone());
    for i in 0..200 {
        let request = http::Request::get(format!("http://host-{i}.example/"))
            .body(String::new())
            .unwrap();
        service.ready().await.unwrap().call(request).await.unwrap();
    }

    let rendered = recorder.handle().render();
    let authorities: HashSet<&str> = rendered
        .lines()
        .filter(|line| line.starts_with("tower_conn_retry_requests_total{"))
        .filter_map(|line| line.split("authority=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        authorities.len() <= 4 + 1,
        "{} authority values for max_authorities(4): {:?}",
        authorities.len(),
        authorities.iter().take(8).collect::<Vec<_>>()
    );
    // Every request is still counted, under some label.
    let published: u64 = rendered
        .lines()
        .filter(|line| line.starts_with("tower_conn_retry_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next())
        .map(|value| value.parse::<f64>().unwrap() as u64)
        .sum();
    assert_eq!(published, 200);
    assert_eq!(policy.stats().total.requests, 200);
}
