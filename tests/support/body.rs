//! A streaming request body, which no `Clone` could copy.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::StreamBody;
use hyper::body::Frame;

pub type Streaming = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// "first,second,third" in three chunks, sent with chunked encoding: no
/// length is known up front.
pub fn streaming_body() -> Streaming {
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = ["first,", "second,", "third"]
        .into_iter()
        .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))))
        .collect();
    StreamBody::new(stream::iter(chunks))
}

/// A body that sends "first", and 20 ms later (once hyper has written the
/// head and that chunk) fails with an io error of `kind`. It is `Clone`, so
/// the layer could copy it: each copy starts over.
#[derive(Debug)]
pub struct FailsAfterFirstChunk {
    kind: std::io::ErrorKind,
    // Set once "first" was sent: the pause before failing.
    failing: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl FailsAfterFirstChunk {
    pub fn new(kind: std::io::ErrorKind) -> Self {
        Self {
            kind,
            failing: None,
        }
    }
}

impl Clone for FailsAfterFirstChunk {
    fn clone(&self) -> Self {
        Self::new(self.kind)
    }
}

impl hyper::body::Body for FailsAfterFirstChunk {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        use std::future::Future;
        let kind = self.kind;
        match &mut self.failing {
            Some(pause) => {
                std::task::ready!(pause.as_mut().poll(cx));
                std::task::Poll::Ready(Some(Err(kind.into())))
            }
            None => {
                let pause = tokio::time::sleep(std::time::Duration::from_millis(20));
                self.failing = Some(Box::pin(pause));
                std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
            }
        }
    }
}
