//! Observe: what the layer tells its users about what it did.

pub(crate) mod attempt_count;
pub(crate) mod counters;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod report;
pub(crate) mod stats;
pub(crate) mod telemetry;
