//! Classify: which errors are connection failures, and of what kind.
//!
//! An attempt's error goes to a [`Classify`](crate::Classify) classifier
//! (`classifier`), whose answer is an [`ErrorClass`](crate::ErrorClass).
//! The default classifiers walk the error's `source()` chain (`evidence`),
//! weighing each link where it stands; `shapes` recognises tonic's errors,
//! by type with the `tonic` feature and by their printed shape without it. `error_class` is the
//! vocabulary, below them all: it imports nothing of the crate.

pub(crate) mod classifier;
pub(crate) mod error_class;
pub(crate) mod evidence;
pub(crate) mod shapes;
