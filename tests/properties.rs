//! Property tests: for arbitrary settings and attempt numbers, pauses keep
//! to their jitter kind's bounds; every setting `build()` accepts runs
//! through the layer without a panic; every setting it rejects is named.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use http::{Method, Request};
use proptest::prelude::*;
use tower::Service;
use tower_conn_retry::{Backoff, Jitter, Retry, RetryPolicy};

use support::mock::{Mock, Outcome};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// A valid backoff: base > 0, factor >= 1, cap >= base; up to a day.
fn valid_backoff() -> impl Strategy<Value = Backoff> {
    let day = 86_400_000_000_000u64;
    (1..=day, 1.0f64..64.0, 0..=day, jitter()).prop_map(|(base, factor, extra, jitter)| {
        Backoff::exponential(Duration::from_nanos(base))
            .factor(factor)
            .max_delay(Duration::from_nanos(base.saturating_add(extra)))
            .jitter(jitter)
    })
}

/// Durations from zero to `Duration::MAX`, edges included.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..=u64::MAX).prop_map(Duration::from_nanos),
        (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// Factors of every kind, nonsense included.
fn any_factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(1.0),
        any::<f64>(),
        0.0f64..100.0,
    ]
}

proptest! {
    // Failures are reported with their seed; no regression file is written.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_pause_keeps_to_its_jitter_bounds(
        backoff in valid_backoff(),
        seed in any::<u64>(),
    ) {
        let (base, cap) = (backoff.base(), backoff.cap());
        let ceilings: Vec<_> = backoff.jitter(Jitter::None).delays(seed).take(80).collect();
        let mut previous = base;
        for (retry, (pause, ceiling)) in backoff.delays(seed).take(80).zip(&ceilings).enumerate() {
            let ceiling = *ceiling;
            prop_assert!(ceiling >= base && ceiling <= cap);
            if retry > 0 {
                prop_assert!(ceiling >= ceilings[retry - 1], "pauses shrink at retry {retry}");
            }
            prop_assert!(pause <= cap, "{pause:?} above the cap {cap:?}");
            match backoff.jitter_kind() {
                Jitter::None => prop_assert_eq!(pause, ceiling),
                Jitter::Full => prop_assert!(pause <= ceiling),
                Jitter::Equal => {
                    let half = Duration::from_nanos(ceiling.as_nanos() as u64 / 2);
                    prop_assert!(pause >= half && pause <= ceiling, "{pause:?} of {ceiling:?}");
                }
                Jitter::Decorrelated => {
                    prop_assert!(pause >= base, "{pause:?} below the base {base:?}");
                    let upper = previous.saturating_mul(3).max(base).min(cap);
                    prop_assert!(pause <= upper, "{pause:?} above 3 x {previous:?}");
                }
                _ => unreachable!("a jitter kind this test does not know"),
            }
            previous = pause;
        }
    }

    #[test]
    fn decorrelated_never_leaves_base_and_cap_over_a_sequence(
        backoff in valid_backoff(),
        seed in any::<u64>(),
    ) {
        let backoff = backoff.jitter(Jitter::Decorrelated);
        for pause in backoff.delays(seed).take(64) {
            prop_assert!(pause >= backoff.base() && pause <= backoff.cap(), "{pause:?}");
        }
    }

    #[test]
    fn build_accepts_exactly_the_valid_settings_and_names_what_is_wrong(
        base in any_duration(),
        factor in any_factor(),
        cap in any_duration(),
        max_elapsed in proptest::option::of(any_duration()),
    ) {
        let backoff = Backoff::exponential(base).factor(factor).max_delay(cap);
        let mut builder = RetryPolicy::builder().backoff(backoff);
        if let Some(max_elapsed) = max_elapsed {
            builder = builder.max_elapsed(max_elapsed);
        }
        let (base, cap) = (backoff.base(), backoff.cap());
        let valid = factor.is_finite()
            && factor >= 1.0
            && (!base.is_zero() || (factor == 1.0 && cap.is_zero()))
            && cap >= base
            && max_elapsed != Some(Duration::ZERO);
        match builder.build() {
            Ok(_) => prop_assert!(valid, "accepted an invalid setting"),
            Err(error) => {
                prop_assert!(!valid, "rejected a valid setting: {error}");
                let field = error.field();
                prop_assert!(
                    ["backoff.factor", "backoff.base", "backoff.max_delay", "max_elapsed"]
                        .contains(&field),
                    "unknown field {field}"
                );
                let message = error.to_string();
                prop_assert!(message.contains(field), "{message}");
                prop_assert!(message.contains(error.value()), "{message}");
            }
        }
    }

    #[test]
    fn no_accepted_setting_makes_the_layer_panic(
        max_retries in 0u32..6,
        backoff in prop_oneof![valid_backoff(), Just(Backoff::none())],
        max_elapsed in proptest::option::of(1u64..=u64::MAX),
        seed in any::<u64>(),
        failures in proptest::collection::vec(
            prop_oneof![
                Just(ErrorKind::ConnectionRefused),
                Just(ErrorKind::ConnectionReset),
                Just(ErrorKind::TimedOut),
                Just(ErrorKind::PermissionDenied),
            ],
            0..8,
        ),
        post in any::<bool>(),
    ) {
        let mut builder = RetryPolicy::builder()
            .max_retries(max_retries)
            .backoff(backoff)
            .jitter_seed(seed);
        if let Some(ns) = max_elapsed {
            builder = builder.max_elapsed(Duration::from_nanos(ns));
        }
        let policy = builder.build().expect("a valid setting");
        let mock = Mock::new(failures.iter().map(|&kind| Outcome::Fail(kind)));
        let seen = mock.seen();
        let mut service = Retry::new(mock, policy);
        let method = if post { Method::POST } else { Method::GET };
        let request = Request::builder()
            .method(method)
            .uri("http://127.0.0.1/")
            .body(String::new())
            .unwrap();

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let result = runtime.block_on(async { service.ready().await?.call(request).await });

        let calls = seen.lock().unwrap().calls.len();
        prop_assert!(calls >= 1 && calls <= max_retries as usize + 1, "{calls} calls");
        prop_assert!(calls <= failures.len() + 1);
        if result.is_ok() {
            prop_assert_eq!(calls, failures.len() + 1, "succeeded early");
        } else {
            prop_assert!(calls <= failures.len(), "an error without a failure");
        }
    }
}
