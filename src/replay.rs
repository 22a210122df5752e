//! A streaming request body that can be sent again: it records what the
//! first attempt sent, up to a limit, so a retry can replay it.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Wraps a streaming body so an idempotent request can be retried after
/// [`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost).
///
/// `http::Request<B>` with a streaming body cannot be cloned. Wrapped in a
/// `ReplayBody`, each data frame the first attempt reads is recorded, up to
/// `limit` bytes; a retry's copy replays the recording and then goes on
/// reading where the first attempt stopped. **Past the limit the request is
/// simply not retried**: the recording is dropped (so memory stays bounded)
/// and the failed attempt's error is returned. A body whose own stream
/// failed is not retried either.
///
/// `ReplayBody` is deliberately not `Clone`: copies are made only through
/// [`CloneRequest`](crate::CloneRequest), which knows when replaying has
/// become impossible. For a body that fits in memory anyway, a `Clone` body
/// such as `Full<Bytes>` is simpler; for connection failures alone, the
/// connector placement needs no copy at all (see the crate docs).
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, StreamBody};
/// use hyper::body::Frame;
/// use tower_conn_retry::{CloneRequest, ReplayBody};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let chunks = ["a", "b"].map(|c| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(c))));
/// let body = StreamBody::new(futures_util::stream::iter(chunks));
/// let request = http::Request::put("http://127.0.0.1/doc")
///     .body(ReplayBody::new(body, 64 * 1024))
///     .unwrap();
///
/// let copy = request.clone_request().expect("nothing read yet");
/// // The first attempt streams the body...
/// let sent = request.into_body().collect().await.unwrap().to_bytes();
/// // ...and a retry's copy sends the same bytes again.
/// let resent = copy.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(sent, resent);
/// # }
/// ```
pub struct ReplayBody<B> {
    shared: Arc<Mutex<Shared<B>>>,
    // Frames of the shared stream this instance has sent.
    position: usize,
    // Data bytes this instance has sent, for its size hint.
    sent: u64,
    trailers_sent: bool,
}

struct Shared<B> {
    // The unread rest of the original body; `None` once it ended or failed.
    rest: Option<Pin<Box<B>>>,
    ended: bool,
    // Frames read from `rest` so far, recorded or not.
    read: usize,
    recording: Vec<Bytes>,
    recorded_bytes: usize,
    limit: usize,
    // The recording was dropped (past the limit, or the body failed): no new
    // replay can be made.
    unreplayable: bool,
    trailers: Option<HeaderMap>,
    // The whole body's size hint, as the original gave it.
    size_hint: SizeHint,
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, recording at most `limit` bytes of it for replays.
    pub fn new(body: B, limit: usize) -> Self {
        let size_hint = body.size_hint();
        let shared = Shared {
            rest: Some(Box::pin(body)),
            ended: false,
            read: 0,
            recording: Vec::new(),
            recorded_bytes: 0,
            limit,
            unreplayable: false,
            trailers: None,
            size_hint,
        };
        Self::instance(Arc::new(Mutex::new(shared)))
    }
}

impl<B> ReplayBody<B> {
    fn instance(shared: Arc<Mutex<Shared<B>>>) -> Self {
        Self {
            shared,
            position: 0,
            sent: 0,
            trailers_sent: false,
        }
    }

    /// A new instance that sends the whole body again from its start, or
    /// `None` if the body can no longer be replayed (past its limit, or its
    /// stream failed).
    pub fn replay(&self) -> Option<Self> {
        let shared = self.lock();
        let replayable = !shared.unreplayable && (shared.rest.is_some() || shared.ended);
        drop(shared);
        replayable.then(|| Self::instance(self.shared.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, Shared<B>> {
        lock(&self.shared)
    }
}

fn lock<B>(shared: &Mutex<Shared<B>>) -> MutexGuard<'_, Shared<B>> {
    // A panic while holding the lock leaves counters only; the data is
    // still consistent enough to refuse or replay.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        // Borrow the shared state apart from this instance's counters, which
        // are updated while the lock is held.
        let mut shared = lock(&this.shared);

        // Behind the shared stream: replay what was recorded.
        if this.position < shared.read {
            if shared.unreplayable {
                return Poll::Ready(Some(Err(ReplayError.into())));
            }
            let chunk = shared.recording[this.position].clone();
            this.position += 1;
            this.sent += chunk.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }

        // At the front: read on, recording as long as the limit allows.
        while let Some(rest) = shared.rest.as_mut() {
            let frame = match ready!(rest.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    shared.rest = None;
                    shared.forget();
                    return Poll::Ready(Some(Err(error.into())));
                }
                None => {
                    shared.rest = None;
                    shared.ended = true;
                    break;
                }
            };
            let frame = match frame.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    shared.record(&chunk);
                    this.position += 1;
                    this.sent += chunk.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                Err(frame) => frame,
            };
            if let Ok(trailers) = frame.into_trailers() {
                shared.trailers = Some(trailers.clone());
                this.trailers_sent = true;
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            // Neither data nor trailers: http-body 1 has no such frame;
            // skip it and read on.
        }

        if !shared.ended {
            // The original stream failed under another instance.
            return Poll::Ready(Some(Err(ReplayError.into())));
        }
        match &shared.trailers {
            Some(trailers) if !this.trailers_sent => {
                this.trailers_sent = true;
                Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))))
            }
            _ => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.lock().size_hint.exact() {
            Some(total) => SizeHint::with_exact(total.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}

impl<B> Shared<B> {
    /// Counts a data frame read from `rest`, recording it while the limit
    /// allows.
    fn record(&mut self, chunk: &Bytes) {
        self.read += 1;
        if self.unreplayable {
            return;
        }
        if self.recorded_bytes + chunk.len() <= self.limit {
            self.recorded_bytes += chunk.len();
            self.recording.push(chunk.clone());
        } else {
            self.forget();
        }
    }

    /// Drops the recording: no new replay can be made.
    fn forget(&mut self) {
        self.unreplayable = true;
        self.recording = Vec::new();
        self.recorded_bytes = 0;
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("ReplayBody")
            .field("position", &self.position)
            .field("recorded_bytes", &shared.recorded_bytes)
            .field("limit", &shared.limit)
            .field("replayable", &!shared.unreplayable)
            .finish()
    }
}

/// A [`ReplayBody`] was asked to replay what it no longer holds: the body
/// passed its replay limit or its own stream failed while another attempt
/// was still sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayError;

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body can no longer be replayed: it passed its replay limit or its stream failed")
    }
}

impl StdError for ReplayError {}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::convert::Infallible;

    type Chunks = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
    >;

    fn chunks(parts: &[&'static str], trailers: bool) -> Chunks {
        let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        if trailers {
            let mut map = HeaderMap::new();
            map.insert("x-checksum", "abc".parse().unwrap());
            frames.push(Ok(Frame::trailers(map)));
        }
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_replay_sends_the_same_data_and_trailers() {
        let body = ReplayBody::new(chunks(&["ab", "cd", "e"], true), 100);
        let copy = body.replay().unwrap();
        let first = body.collect().await.unwrap();
        assert_eq!(first.trailers().unwrap()["x-checksum"], "abc");
        let first = first.to_bytes();
        let again = copy.collect().await.unwrap();
        assert_eq!(again.trailers().unwrap()["x-checksum"], "abc");
        assert_eq!(first, again.to_bytes());
        assert_eq!(first, Bytes::from_static(b"abcde"));
    }

    #[tokio::test]
    async fn a_replay_goes_on_reading_where_the_first_attempt_stopped() {
        let mut body = ReplayBody::new(chunks(&["ab", "cd", "ef"], false), 100);
        let copy = body.replay().unwrap();
        // The first attempt sends one frame, then fails and is dropped.
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "ab");
        drop(body);
        let all = copy.collect().await.unwrap().to_bytes();
        assert_eq!(all, Bytes::from_static(b"abcdef"));
    }

    #[tokio::test]
    async fn past_its_limit_a_body_cannot_be_replayed() {
        let mut body = ReplayBody::new(chunks(&["abc", "def"], false), 4);
        assert!(body.replay().is_some(), "nothing read yet");
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_some(), "3 bytes fit in 4");
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_none(), "6 bytes do not fit in 4");
        // The attempt that passed the limit still sends the whole body.
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_copy_made_before_the_limit_was_passed_refuses_to_send_a_gap() {
        let mut body = ReplayBody::new(chunks(&["abc", "def"], false), 4);
        let early = body.replay().unwrap();
        body.frame().await.unwrap().unwrap();
        body.frame().await.unwrap().unwrap();
        let error = early.collect().await.unwrap_err();
        assert!(error.is::<ReplayError>(), "{error}");
    }

    #[tokio::test]
    async fn the_size_hint_counts_down_for_every_instance() {
        let mut body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 100);
        assert_eq!(body.size_hint().exact(), Some(5));
        let copy = body.replay().unwrap();
        body.frame().await.unwrap().unwrap();
        assert_eq!(body.size_hint().exact(), Some(0));
        assert_eq!(copy.size_hint().exact(), Some(5));
    }
}
