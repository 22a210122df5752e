//! Classify: which errors are connection failures, and of what kind.
//!
//! `error_class` is the vocabulary ([`ErrorClass`](crate::ErrorClass)), and
//! imports nothing of the crate. `shapes` knows other crates' error types,
//! `evidence` walks an error's `source()` chain and weighs what each link
//! says, and `classifier` holds the [`Classify`](crate::Classify) trait and
//! the classifiers built on the two.

pub(crate) mod classifier;
pub(crate) mod error_class;
pub(crate) mod evidence;
pub(crate) mod shapes;
