//! The futures of [`Retry`](crate::Retry): [`ResponseFuture`] for `call`,
//! and [`Ready`] and [`Oneshot`] for its own `ready` and `oneshot`.

pub(crate) mod ready;
pub(crate) mod response;

pub use ready::{Oneshot, Ready};
pub use response::ResponseFuture;
