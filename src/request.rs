//! How a request is copied for a retry, and whether it may be sent twice.

use http::{Request, Uri};

use crate::classify::is_idempotent;
use crate::replay::ReplayBody;

/// A request the layer can send again.
///
/// `http::Request` is not `Clone`, so the layer copies it field by field:
/// method, URI, version, headers, extensions and a `Clone` body
/// (`Full<Bytes>`, `Empty<Bytes>`, `String`, ...). A [`Uri`], the request of
/// a connector, is copied as it is and counts as idempotent: nothing has
/// been sent when a connection is being made.
///
/// Implement it for a request type of your own to wrap your own service.
///
/// # Example
///
/// ```
/// use tower_conn_retry::CloneRequest;
///
/// #[derive(Clone)]
/// struct Lookup {
///     key: String,
/// }
///
/// impl CloneRequest for Lookup {
///     fn clone_request(&self) -> Option<Self> {
///         Some(self.clone())
///     }
///
///     fn is_idempotent(&self) -> bool {
///         true // a read has no side effect
///     }
/// }
/// ```
pub trait CloneRequest: Sized {
    /// A copy to send on the next attempt, or `None` if this request cannot
    /// be sent again (then the error of the failed attempt is returned).
    fn clone_request(&self) -> Option<Self>;

    /// Whether sending this request twice has the effect of sending it once.
    /// Only idempotent requests are retried after
    /// [`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost).
    fn is_idempotent(&self) -> bool;
}

impl<B: Clone> CloneRequest for Request<B> {
    fn clone_request(&self) -> Option<Self> {
        Some(with_body(self, self.body().clone()))
    }

    fn is_idempotent(&self) -> bool {
        is_idempotent(self.method())
    }
}

/// A streaming body wrapped in [`ReplayBody`] can be sent again while its
/// recording holds everything read so far (see its docs).
impl<B> CloneRequest for Request<ReplayBody<B>> {
    fn clone_request(&self) -> Option<Self> {
        Some(with_body(self, self.body().replay()?))
    }

    fn is_idempotent(&self) -> bool {
        is_idempotent(self.method())
    }
}

/// A copy of `request`'s method, URI, version, headers and extensions
/// around `body`.
fn with_body<B, B2>(request: &Request<B>, body: B2) -> Request<B2> {
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    copy
}

impl CloneRequest for Uri {
    fn clone_request(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{header, Method, Version};

    #[derive(Clone, Debug, PartialEq)]
    struct Tag(&'static str);

    #[test]
    fn a_request_copy_keeps_every_part() {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("http://127.0.0.1:8080/items/7?x=1")
            .version(Version::HTTP_11)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-trace", "abc")
            .body(String::from("{\"n\":7}"))
            .unwrap();
        request.extensions_mut().insert(Tag("kept"));

        let copy = request.clone_request().expect("a Clone body can be copied");
        assert_eq!(copy.method(), Method::PUT);
        assert_eq!(copy.uri(), request.uri());
        assert_eq!(copy.version(), Version::HTTP_11);
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag("kept")));
        assert_eq!(copy.body(), "{\"n\":7}");
    }

    #[test]
    fn idempotency_follows_the_method() {
        let get = Request::get("/").body(()).unwrap();
        let post = Request::post("/").body(()).unwrap();
        assert!(get.is_idempotent());
        assert!(!post.is_idempotent());
        assert!("http://127.0.0.1/".parse::<Uri>().unwrap().is_idempotent());
    }
}
