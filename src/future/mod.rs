//! Future types: [`ResponseFuture`] for [`Retry`](crate::Retry)'s `call`,
//! and [`Ready`] and [`Oneshot`] for its own `ready` and `oneshot`.
//!
//! `response` is the retry loop: attempt, classify, plan a retry (its
//! pause, then its way through `admission`), attempt again, and tell
//! `observe`. `ready` holds `Retry`'s `ready` and `oneshot` beside their
//! futures.

pub(crate) mod ready;
pub(crate) mod response;

pub use ready::{Oneshot, Ready};
pub use response::ResponseFuture;
