//! A streaming request body that can be sent again: it records what the
//! first attempt sent, up to a limit, so a retry can replay it.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

type BoxError = Box<dyn StdError + Send + Sync>;

/// What each recorded frame costs against the limit on top of its data:
/// the handle the recording keeps for it (32 bytes on 64-bit targets). So
/// a stream of empty or tiny frames passes the limit too, and the limit
/// bounds the recording's memory, not only its data.
const FRAME_COST: usize = std::mem::size_of::<Bytes>();

/// Wraps a streaming body so an idempotent request can be retried after
/// [`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost).
///
/// `http::Request<B>` with a streaming body cannot be cloned. Wrapped in a
/// `ReplayBody`, each data frame the first attempt reads is recorded, up to
/// `limit`; a retry's copy replays the recording and then goes on
/// reading where the first attempt stopped. **Past the limit the request is
/// simply not retried**: the recording is dropped (so memory stays bounded)
/// and the failed attempt's error is returned. A body whose own stream
/// failed is not retried either.
///
/// The limit counts what the recording holds: each frame's data plus a
/// fixed cost per frame, the handle kept for it (`size_of::<Bytes>()`, 32
/// bytes on 64-bit targets). So a stream of empty or tiny frames passes the
/// limit too (10,000 empty frames cost 320,000 bytes), and a body of a few
/// large frames fits in little more than its length.
///
/// Instances may be polled at once, from different tasks: the wrapped body
/// is polled by whichever instance is at the front, and every instance that
/// waits for its next frame is woken when it comes.
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
    shared: Arc<Common<B>>,
    // Frames of the shared stream this instance has sent.
    position: usize,
    // Data bytes this instance has sent, for its size hint.
    sent: u64,
    trailers_sent: bool,
}

/// What every instance of one body shares.
struct Common<B> {
    state: Mutex<Shared<B>>,
    // Instances that polled the wrapped body and wait for its next frame.
    polling: Arc<Polling>,
    // The waker the wrapped body is polled with: it wakes every instance
    // in `polling`, not only the one that polled last (a body keeps one
    // waker, the latest it was given).
    fan_out: Waker,
}

struct Shared<B> {
    // The unread rest of the original body.
    rest: Rest<B>,
    // Frames read from `rest` so far, recorded or not.
    read: usize,
    recording: Vec<Bytes>,
    // What `recording` costs: its data, and `FRAME_COST` per frame.
    recorded: usize,
    limit: usize,
    // The recording was dropped (past the limit, or the body failed): no new
    // replay can be made.
    unreplayable: bool,
    trailers: Option<HeaderMap>,
    // The whole body's size hint, as the original gave it.
    size_hint: SizeHint,
    // Instances that found the rest lent to another and wait for it back.
    waiting: Vec<Waker>,
}

/// Where the unread rest of the original body is.
enum Rest<B> {
    /// Here, ready to be polled by whichever instance is at the front.
    Here(Pin<Box<B>>),
    /// Taken out by an instance polling it, so that no lock is held while
    /// the wrapped body runs; it comes back when that poll returns.
    Lent,
    /// It ended: every frame was read.
    Ended,
    /// It failed (or panicked while lent): nothing more can be read.
    Failed,
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, recording at most `limit` bytes of it for replays: its
    /// data, plus 32 bytes per frame (see [`ReplayBody`]).
    #[must_use]
    pub fn new(body: B, limit: usize) -> Self {
        let size_hint = body.size_hint();
        // A body already at its end (`Empty`) is over before it starts, so
        // the wrapper says so too: HTTP/1 then sends no `content-length: 0`
        // and HTTP/2 no empty DATA frame.
        let rest = if body.is_end_stream() {
            Rest::Ended
        } else {
            Rest::Here(Box::pin(body))
        };
        let state = Shared {
            rest,
            read: 0,
            recording: Vec::new(),
            recorded: 0,
            limit,
            unreplayable: false,
            trailers: None,
            size_hint,
            waiting: Vec::new(),
        };
        let polling = Arc::new(Polling::default());
        let fan_out = Waker::from(polling.clone());
        Self::instance(Arc::new(Common {
            state: Mutex::new(state),
            polling,
            fan_out,
        }))
    }
}

impl<B> ReplayBody<B> {
    fn instance(shared: Arc<Common<B>>) -> Self {
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
        let replayable = !self.lock().unreplayable;
        replayable.then(|| Self::instance(self.shared.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, Shared<B>> {
        lock(&self.shared.state)
    }
}

fn lock<B>(shared: &Mutex<Shared<B>>) -> MutexGuard<'_, Shared<B>> {
    // The lock is never held while the wrapped body runs, so a panic cannot
    // happen while it is held; a poisoned lock still holds consistent data.
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
        loop {
            let mut shared = lock(&this.shared.state);

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

            // At the front: borrow the rest and poll it without the lock.
            let body = match std::mem::replace(&mut shared.rest, Rest::Lent) {
                Rest::Here(body) => body,
                Rest::Lent => {
                    // Another instance is polling it right now, on another
                    // thread; it wakes us when it gives the body back.
                    if !shared.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                        shared.waiting.push(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                Rest::Ended => {
                    shared.rest = Rest::Ended;
                    return Poll::Ready(end(&mut this.trailers_sent, &shared));
                }
                Rest::Failed => {
                    shared.rest = Rest::Failed;
                    return Poll::Ready(Some(Err(ReplayError.into())));
                }
            };
            drop(shared);

            // Registered before the poll, so a wake during it is not lost.
            // The wrapped body sees only `fan_out`: when it has a frame, it
            // wakes every instance that waits for one, including those
            // that polled it before this one.
            let common = &*this.shared;
            common.polling.register(cx.waker());
            let mut lent = Lent {
                shared: common,
                body: Some(body),
            };
            let polled = lent
                .body()
                .as_mut()
                .poll_frame(&mut Context::from_waker(&common.fan_out));
            // From here on the stream moved on: each instance waiting for
            // it is woken, to send what it is now behind by (or to end).
            let frame = match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    drop(lent.give_back(Rest::Ended));
                    common.polling.wake_others(cx.waker());
                    continue;
                }
                Poll::Ready(Some(Err(error))) => {
                    drop(lent.give_back(Rest::Failed));
                    common.polling.wake_others(cx.waker());
                    return Poll::Ready(Some(Err(error.into())));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let frame = match frame.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    lent.give_back_here().record(&chunk);
                    common.polling.wake_others(cx.waker());
                    this.position += 1;
                    this.sent += chunk.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                Err(frame) => frame,
            };
            if let Ok(trailers) = frame.into_trailers() {
                lent.give_back_here().trailers = Some(trailers.clone());
                common.polling.wake_others(cx.waker());
                this.trailers_sent = true;
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            // Neither data nor trailers: http-body 1 has no such frame;
            // skip it and read on (`lent` gives the body back on drop).
        }
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.lock();
        if self.position < shared.read {
            return false;
        }
        match &shared.rest {
            Rest::Here(body) => body.is_end_stream() && shared.trailers.is_none(),
            Rest::Ended => shared.trailers.is_none() || self.trailers_sent,
            Rest::Lent | Rest::Failed => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        let whole = self.lock().size_hint;
        match whole.exact() {
            Some(total) => SizeHint::with_exact(total.saturating_sub(self.sent)),
            None => {
                let mut rest = SizeHint::new();
                rest.set_lower(whole.lower().saturating_sub(self.sent));
                if let Some(upper) = whole.upper() {
                    rest.set_upper(upper.saturating_sub(self.sent));
                }
                rest
            }
        }
    }
}

/// The instances waiting for the wrapped body's next frame, woken together.
///
/// A body keeps only the waker it was last polled with; each instance that
/// polls it registers its own waker here instead, and the body is polled
/// with a waker of this list. Without it an instance that polled first is
/// forgotten when another polls after it, and is never woken once the
/// other has read the frame it waited for.
#[derive(Default)]
struct Polling {
    wakers: Mutex<Vec<Waker>>,
}

impl Polling {
    fn lock(&self) -> MutexGuard<'_, Vec<Waker>> {
        // Wakers are only pushed and taken under the lock: never
        // inconsistent, even if a panic poisoned it.
        self.wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `waker`, once (an instance polled again in the same task is
    /// not listed twice).
    fn register(&self, waker: &Waker) {
        let mut wakers = self.lock();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Wakes every listed waker except `current`'s, and empties the list.
    fn wake_others(&self, current: &Waker) {
        // Woken outside the lock (a waker may run anything); the emptied
        // list is put back so its room is kept for the next round.
        let mut wakers = std::mem::take(&mut *self.lock());
        if wakers.is_empty() {
            return;
        }
        for waker in wakers.drain(..) {
            if !waker.will_wake(current) {
                waker.wake();
            }
        }
        let mut list = self.lock();
        if list.is_empty() {
            *list = wakers;
        }
    }
}

impl Wake for Polling {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut wakers = std::mem::take(&mut *self.lock());
        for waker in wakers.drain(..) {
            waker.wake();
        }
        let mut list = self.lock();
        if list.is_empty() {
            *list = wakers;
        }
    }
}

/// The end of the stream for an instance: the trailers it has not sent
/// yet, or nothing more.
fn end<B>(trailers_sent: &mut bool, shared: &Shared<B>) -> Option<Result<Frame<Bytes>, BoxError>> {
    match &shared.trailers {
        Some(trailers) if !*trailers_sent => {
            *trailers_sent = true;
            Some(Ok(Frame::trailers(trailers.clone())))
        }
        _ => None,
    }
}

/// The rest of the original body, lent to one instance for one poll. It is
/// given back (or marked failed, if the body panicked) even when the poll
/// unwinds, and every instance waiting for it is woken.
struct Lent<'a, B> {
    shared: &'a Common<B>,
    body: Option<Pin<Box<B>>>,
}

impl<'a, B> Lent<'a, B> {
    fn body(&mut self) -> &mut Pin<Box<B>> {
        self.body
            .as_mut()
            .expect("a lent body is held until given back")
    }

    /// Gives the body back, still readable, and returns the locked state.
    fn give_back_here(mut self) -> MutexGuard<'a, Shared<B>> {
        let body = self.body.take().expect("a lent body is given back once");
        self.give_back(Rest::Here(body))
    }

    /// Puts `rest` in the body's place and returns the locked state.
    fn give_back(mut self, rest: Rest<B>) -> MutexGuard<'a, Shared<B>> {
        self.body = None;
        put_back(self.shared, rest)
    }
}

/// Puts `rest` back in the shared state, wakes every instance that waited
/// for it, and returns the locked state.
fn put_back<B>(common: &Common<B>, rest: Rest<B>) -> MutexGuard<'_, Shared<B>> {
    let failed = matches!(rest, Rest::Failed);
    if failed {
        // Lost (the wrapped body panicked): it will wake nobody again.
        Wake::wake_by_ref(&common.polling);
    }
    let mut shared = lock(&common.state);
    if failed {
        shared.forget();
    }
    shared.rest = rest;
    for waiter in shared.waiting.drain(..) {
        waiter.wake();
    }
    shared
}

impl<B> Drop for Lent<'_, B> {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else {
            return;
        };
        // Given back unread when the poll returned early; lost if the
        // wrapped body panicked.
        let rest = if std::thread::panicking() {
            Rest::Failed
        } else {
            Rest::Here(body)
        };
        drop(put_back(self.shared, rest));
    }
}

impl<B> Shared<B> {
    /// Counts a data frame read from `rest`, recording it while the limit
    /// allows: its length and `FRAME_COST`.
    fn record(&mut self, chunk: &Bytes) {
        self.read += 1;
        if self.unreplayable {
            return;
        }
        let recorded = self.recorded.saturating_add(chunk.len() + FRAME_COST);
        if recorded <= self.limit {
            self.recorded = recorded;
            self.recording.push(chunk.clone());
        } else {
            self.forget();
        }
    }

    /// Drops the recording: no new replay can be made.
    fn forget(&mut self) {
        self.unreplayable = true;
        self.recording = Vec::new();
        self.recorded = 0;
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("ReplayBody")
            .field("position", &self.position)
            .field("recorded", &shared.recorded)
            .field("limit", &shared.limit)
            .field("replayable", &!shared.unreplayable)
            .finish()
    }
}

/// A [`ReplayBody`] was asked to replay what it no longer holds: the body
/// passed its replay limit or its own stream failed while another attempt
/// was still sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
        let body = ReplayBody::new(chunks(&["ab", "cd", "e"], true), 1024);
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
        let mut body = ReplayBody::new(chunks(&["ab", "cd", "ef"], false), 1024);
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
        // Room for one frame of 3 bytes, and one byte more.
        let limit = 3 + FRAME_COST + 1;
        let mut body = ReplayBody::new(chunks(&["abc", "def"], false), limit);
        assert!(body.replay().is_some(), "nothing read yet");
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_some(), "one frame fits");
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_none(), "two frames do not fit");
        // The attempt that passed the limit still sends the whole body.
        assert!(body.frame().await.is_none());
    }

    /// `count` empty data frames.
    fn empty_frames(
        count: usize,
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        StreamBody::new(futures_util::stream::iter(
            std::iter::repeat_with(|| Ok(Frame::data(Bytes::new()))).take(count),
        ))
    }

    #[tokio::test]
    async fn empty_frames_count_against_the_limit() {
        // 10,000 frames of no data: the recording would hold 10,000 handles.
        let mut body = ReplayBody::new(empty_frames(10_000), 1024);
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            assert!(frame.unwrap().into_data().unwrap().is_empty());
            frames += 1;
            if frames == 1 {
                assert!(body.replay().is_some(), "one frame fits in 1 KiB");
            }
        }
        // The attempt itself still sent every frame...
        assert_eq!(frames, 10_000);
        // ...but no more than 1 KiB of recording was kept for a replay.
        assert!(body.replay().is_none(), "10,000 frames kept in 1 KiB");
        assert_eq!(body.lock().recording.capacity(), 0);
    }

    #[tokio::test]
    async fn a_zero_limit_keeps_not_even_an_empty_frame() {
        let mut body = ReplayBody::new(empty_frames(2), 0);
        assert!(body.replay().is_some(), "nothing read yet");
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_none());
        assert!(body.frame().await.unwrap().is_ok(), "still sent");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_body_within_its_limit_counting_frame_costs_is_replayed() {
        // Three frames of 1 byte: 3 bytes of data, and three frames' cost.
        let limit = 3 + 3 * FRAME_COST;
        let body = ReplayBody::new(chunks(&["a", "b", "c"], false), limit);
        let copy = body.replay().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
        assert!(copy.replay().is_some());
        assert_eq!(copy.collect().await.unwrap().to_bytes(), "abc");

        // One byte less, and the third frame does not fit.
        let mut body = ReplayBody::new(chunks(&["a", "b", "c"], false), limit - 1);
        body.frame().await.unwrap().unwrap();
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_some());
        body.frame().await.unwrap().unwrap();
        assert!(body.replay().is_none());
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
    async fn an_empty_body_is_at_its_end_from_the_start() {
        let body = ReplayBody::new(http_body_util::Empty::<Bytes>::new(), 10);
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let copy = body.replay().unwrap();
        assert!(copy.is_end_stream());
        assert!(copy.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn each_instance_is_at_its_end_once_it_sent_everything() {
        let mut body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 1024);
        let mut copy = body.replay().unwrap();
        assert!(!body.is_end_stream());
        body.frame().await.unwrap().unwrap();
        assert!(body.is_end_stream(), "Full says so after its one frame");
        assert!(!copy.is_end_stream(), "the copy has not replayed it yet");
        copy.frame().await.unwrap().unwrap();
        assert!(copy.is_end_stream());
    }

    #[tokio::test]
    async fn a_body_with_trailers_is_not_at_its_end_before_sending_them() {
        let body = ReplayBody::new(chunks(&["ab"], true), 1024);
        let mut copy = body.replay().unwrap();
        body.collect().await.unwrap();
        copy.frame().await.unwrap().unwrap();
        assert!(!copy.is_end_stream(), "the trailers are still to come");
        let trailers = copy.frame().await.unwrap().unwrap();
        assert!(trailers.is_trailers());
        assert!(copy.is_end_stream());
    }

    #[test]
    fn a_lower_and_upper_size_hint_count_down() {
        struct Hinted;
        impl Body for Hinted {
            type Data = Bytes;
            type Error = Infallible;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"abc")))))
            }
            fn size_hint(&self) -> SizeHint {
                let mut hint = SizeHint::new();
                hint.set_lower(5);
                hint.set_upper(10);
                hint
            }
        }
        let mut body = ReplayBody::new(Hinted, 1024);
        assert_eq!(
            (body.size_hint().lower(), body.size_hint().upper()),
            (5, Some(10))
        );
        let waker = std::task::Waker::noop();
        let _ = Pin::new(&mut body).poll_frame(&mut Context::from_waker(waker));
        assert_eq!(
            (body.size_hint().lower(), body.size_hint().upper()),
            (2, Some(7))
        );
    }

    /// A body that, while it is polled, asks its own `ReplayBody` for its
    /// state: with the lock held across the poll, this would deadlock.
    struct AsksItsWrapper {
        wrapper: Arc<Mutex<Option<ReplayBody<AsksItsWrapper>>>>,
    }

    impl Body for AsksItsWrapper {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let wrapper = self.wrapper.lock().unwrap();
            let copy = wrapper.as_ref().unwrap();
            let _ = (copy.size_hint(), copy.is_end_stream(), copy.replay());
            Poll::Ready(None)
        }
    }

    #[test]
    fn no_lock_is_held_while_the_wrapped_body_is_polled() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let wrapper = Arc::new(Mutex::new(None));
            let mut body = ReplayBody::new(
                AsksItsWrapper {
                    wrapper: wrapper.clone(),
                },
                10,
            );
            *wrapper.lock().unwrap() = body.replay();
            let waker = std::task::Waker::noop();
            let polled = Pin::new(&mut body).poll_frame(&mut Context::from_waker(waker));
            let _ = done.send(matches!(polled, Poll::Ready(None)));
        });
        let ended = finished
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("polling the wrapped body deadlocked on the wrapper's lock");
        assert!(ended);
    }

    #[tokio::test]
    async fn the_size_hint_counts_down_for_every_instance() {
        let mut body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 1024);
        assert_eq!(body.size_hint().exact(), Some(5));
        let copy = body.replay().unwrap();
        body.frame().await.unwrap().unwrap();
        assert_eq!(body.size_hint().exact(), Some(0));
        assert_eq!(copy.size_hint().exact(), Some(5));
    }
}
