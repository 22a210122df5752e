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
