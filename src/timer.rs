//! The runtime seam: where a pause's timer comes from.
//!
//! By default the pause is a `tokio::time::Sleep`. hyper is
//! runtime-agnostic through `hyper::rt::Timer`; with the `hyper` feature
//! a policy can take any such timer
//! ([`RetryPolicyBuilder::timer`](crate::RetryPolicyBuilder::timer)), so
//! the layer serves any runtime. Without a usable timer the layer never
//! panics: the retry is not made and the error is returned, with an event.

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
    /// enabled (`Builder::enable_time`, or `enable_all`).
    #[default]
    Tokio,
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
                // tokio has no way to ask whether its time driver is
                // enabled: `Sleep::new_timeout` panics with "timers are
                // disabled" (tokio 1.x, `runtime/time/entry.rs`). The
                // panic is contained here and the retry is given up; the
                // panic hook still prints tokio's message.
                std::panic::catch_unwind(|| tokio::time::sleep(duration))
                    .map(|sleep| Box::pin(sleep) as Pause)
                    .map_err(|_| NoTimer)
            }
            #[cfg(feature = "hyper")]
            Timer::Hyper(timer) => {
                let sleep = timer.sleep(duration);
                Ok(Box::pin(sleep))
            }
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::Tokio => f.write_str("Tokio"),
            #[cfg(feature = "hyper")]
            Timer::Hyper(_) => f.write_str("Hyper"),
        }
    }
}
