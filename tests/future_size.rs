//! The response future of a request is no larger than `tower::retry`'s for
//! the same request and inner service: the retry progress is boxed at the
//! first retry, so a request that succeeds carries only the copy, the
//! clone of the service and a reference to the policy.

use tower::Service;
use tower_conn_retry::{Retry, RetryPolicy};

#[path = "../benches/common/mod.rs"]
mod common;

use common::{realistic_request, Immediate, TowerUpTo};

#[test]
fn the_future_is_no_larger_than_tower_retrys() {
    let mut ours = Retry::new(Immediate, RetryPolicy::default());
    let mut towers = tower::retry::Retry::new(TowerUpTo(3), Immediate);
    let ours = std::mem::size_of_val(&ours.call(realistic_request()));
    let towers = std::mem::size_of_val(&towers.call(realistic_request()));
    assert!(ours <= towers, "ours {ours} B, tower::retry's {towers} B");
}
