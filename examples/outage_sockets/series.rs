//! Counts over time, in buckets of `BUCKET`, shared by the tasks of a run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The plots' and the recovery measure's bucket.
pub const BUCKET: Duration = Duration::from_millis(100);

/// Events per bucket since `start`; events past the last bucket count in
/// it.
#[derive(Debug)]
pub struct Series {
    start: Instant,
    buckets: Vec<AtomicUsize>,
}

impl Series {
    /// Buckets enough for `span` from `start`.
    pub fn new(start: Instant, span: Duration) -> Series {
        let count = (span.as_nanos() / BUCKET.as_nanos()) as usize + 1;
        Series {
            start,
            buckets: (0..count).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Counts one event, now.
    pub fn record(&self) {
        let bucket = (self.start.elapsed().as_nanos() / BUCKET.as_nanos()) as usize;
        self.buckets[bucket.min(self.buckets.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts, bucket by bucket.
    pub fn counts(&self) -> Vec<usize> {
        self.buckets
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }
}

/// The bucket of an instant `at` after the start.
pub fn bucket_of(at: Duration) -> usize {
    (at.as_nanos() / BUCKET.as_nanos()) as usize
}

/// From the server's return (`back`) to the first bucket from which the
/// requests served over the next second reach 95% of the requests that
/// arrived in it, while requests still arrive (until `end`); `None`: not
/// before the arrivals stopped.
pub fn recovery(
    served: &[usize],
    arrived: &[usize],
    back: Duration,
    end: Duration,
) -> Option<Duration> {
    let second = bucket_of(Duration::from_secs(1));
    let (back, end) = (bucket_of(back), bucket_of(end));
    (back..end.saturating_sub(second))
        .find(|&first| {
            let span = first..first + second;
            let served: usize = served[span.clone()].iter().sum();
            let arrived: usize = arrived[span].iter().sum();
            served * 100 >= arrived * 95
        })
        .map(|first| BUCKET * (first - back) as u32)
}
