//! Observe: what the layer tells its users about what it did.
//!
//! Every call counts in `counters` (lock-free, one set per policy and one
//! per tracked authority), which `stats` reads into the public
//! [`RetryStats`](crate::RetryStats) and `metrics` (feature `metrics`)
//! publishes through the `metrics` facade. A retry or a give-up is also
//! told to `telemetry`, which writes its `debug` event and hands the
//! give-up to `report`, the per-policy `warn` summary written once an
//! interval. `attempt_count` records on a response how many attempts it
//! took ([`AttemptCount`](crate::AttemptCount)).
//!
//! Data flows one way: the retry decision (`future`) and `admission` call
//! in; nothing here calls out, and the happy path only adds one to a
//! counter (no clock, no allocation, no lock).

pub(crate) mod attempt_count;
pub(crate) mod counters;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod report;
pub(crate) mod stats;
pub(crate) mod telemetry;
