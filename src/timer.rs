//! The runtime seam: where a pause's timer comes from.
//!
//! By default the pause is a `tokio::time::Sleep`. hyper is
//! runtime-agnostic through `hyper::rt::Timer`; with the `hyper` feature
//! a policy can take any such timer
//! ([`RetryPolicyBuilder::timer`](crate::RetryPolicyBuilder::timer)), so
//! the layer serves any runtime. Without a usable timer the layer never
//! panics: the retry is not made and the error is returned, with an event.
//!
//! tokio has no way to ask whether a runtime's time driver is enabled
//! (tokio-rs/tokio#8361 asks for one): `tokio::time::sleep` panics without
//! it. By default the layer contains that panic where it can, in a
//! `panic = "unwind"` build; in a `panic = "abort"` build it cannot, so the
//! default does not pause with `tokio::time` there at all, and a policy
//! that should says so ([`RetryPolicyBuilder::tokio_timer`](crate::RetryPolicyBuilder::tokio_timer)
//! or a `hyper::rt::Timer`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "hyper")]
use std::sync::Arc;
use std::time::Duration;

/// A pause, boxed: only a request that retries pays for it.
pub(crate) type Pause = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// The timer a policy pauses with.
#[derive(Clone, Default)]
pub(crate) enum Timer {
    /// `tokio::time`, which needs a tokio runtime with its time driver
    /// enabled (`Builder::enable_time`, or `enable_all`): checked by
    /// containing tokio's panic, so only in a `panic = "unwind"` build.
    #[default]
    Tokio,
    /// `tokio::time`, the user having said that every runtime the layer
    /// runs on has its time driver: not checked.
    TokioTrusted,
    /// A `hyper::rt::Timer` of the user's runtime.
    #[cfg(feature = "hyper")]
    Hyper(Arc<dyn hyper::rt::Timer + Send + Sync>),
}

/// No timer could be had for a pause.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoTimer;

impl Timer {
    /// A pause of `duration`, or [`NoTimer`] when tokio's timer is asked for
    /// outside a tokio runtime or on one built without its time driver.
    pub(crate) fn pause(&self, duration: Duration) -> Result<Pause, NoTimer> {
        match self {
            Timer::Tokio => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(NoTimer);
                }
                checked_tokio_sleep(duration)
            }
            Timer::TokioTrusted => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(NoTimer);
                }
                Ok(Box::pin(tokio::time::sleep(duration)))
            }
            #[cfg(feature = "hyper")]
            Timer::Hyper(timer) => {
                let sleep = timer.sleep(duration);
                Ok(Box::pin(sleep))
            }
        }
    }
}

/// `tokio::time::sleep(duration)` on the current runtime, or [`NoTimer`]
/// if its time driver is off.
///
/// tokio has no way to ask whether its time driver is enabled: `Handle`
/// says nothing of it, and `Sleep::new_timeout` (tokio 1.54,
/// `time/sleep.rs`) calls the driver handle's `time()`
/// (`runtime/driver.rs`), which panics with "timers are disabled". The
/// panic is contained here and the retry is given up; the panic hook still
/// prints tokio's message.
#[cfg(panic = "unwind")]
fn checked_tokio_sleep(duration: Duration) -> Result<Pause, NoTimer> {
    std::panic::catch_unwind(|| tokio::time::sleep(duration))
        .map(|sleep| Box::pin(sleep) as Pause)
        .map_err(|_| NoTimer)
}

/// In a `panic = "abort"` build tokio's panic cannot be contained: asking
/// for a `Sleep` on a runtime without its time driver would abort the
/// process. Nothing can tell such a runtime from one with the driver, so
/// the default has no timer here; a policy pauses with `tokio::time` when
/// told to ([`RetryPolicyBuilder::tokio_timer`](crate::RetryPolicyBuilder::tokio_timer)).
#[cfg(not(panic = "unwind"))]
fn checked_tokio_sleep(_: Duration) -> Result<Pause, NoTimer> {
    Err(NoTimer)
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Tokio => f.write_str("Tokio"),
            Timer::TokioTrusted => f.write_str("TokioTrusted"),
            #[cfg(feature = "hyper")]
            Timer::Hyper(_) => f.write_str("Hyper"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_no_tokio_timer_is_had() {
        let second = Duration::from_secs(1);
        assert!(Timer::Tokio.pause(second).is_err());
        assert!(Timer::TokioTrusted.pause(second).is_err());
    }

    #[test]
    fn on_a_runtime_with_its_time_driver_both_tokio_timers_pause() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            for timer in [Timer::Tokio, Timer::TokioTrusted] {
                let start = tokio::time::Instant::now();
                timer.pause(Duration::from_millis(30)).unwrap().await;
                assert_eq!(start.elapsed(), Duration::from_millis(30), "{timer:?}");
            }
        });
    }
}
