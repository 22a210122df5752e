//! The connector placement under tonic: `Endpoint::connect_with_connector`
//! takes the retrying connector, and a channel to a loopback HTTP/2 server
//! that starts late connects and carries a call.

mod support;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tower::{Service, ServiceExt};

use support::connector::retrying_connector;

/// An HTTP/2 server on `addr` from `delay` on, answering every call with an
/// empty gRPC success.
fn serve_h2_after(addr: std::net::SocketAddr, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = TcpListener::bind(addr).await.expect("bind the late port");
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let ok = service_fn(|_: Request<Incoming>| async {
                    let response = Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "0")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), ok)
                    .await;
            });
        }
    });
}

#[tokio::test]
async fn a_tonic_channel_connects_through_the_retrying_connector() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Connection attempts at about 0, 100 and 300 ms; the server listens
    // from 200 ms on: 100 ms of slack either side.
    serve_h2_after(addr, Duration::from_millis(200));
    let (connector, attempts) = retrying_connector(10, Duration::from_millis(100));

    let mut channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .expect("the channel connects once the server is up");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    let call = Request::post(format!("http://{addr}/echo.Echo/Say"))
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = channel.ready().await.unwrap().call(call).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "0");
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "the call reconnected");
}
