//! hyper-rustls' `HttpsConnector` (rustls, ring provider) under the layer, at
//! both placements, against a real TLS server on 127.0.0.1 with a
//! certificate made here (rcgen): what is retried, and what is sent once.
//!
//! The request is written only after the connector returned a finished TLS
//! stream: hyper-rustls 0.27 `connector.rs` (`HttpsConnector::call`)
//! resolves its future only when tokio-rustls' `Connect` has completed the
//! handshake (`common/handshake.rs`: `while session.is_handshaking()`), and
//! rustls sends no early data unless `ClientConfig::enable_early_data` is
//! set (it is off by default). So a handshake that breaks sent nothing of
//! the request, and is retried even for a POST.
#![cfg(feature = "hyper")]

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Service;
use tower_conn_retry::{Backoff, BoxedConnectorClassifier, ErrorClass, Jitter, Retry, RetryPolicy};

use support::server::unused_addr;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Https = HttpsConnector<HttpConnector>;

/// Retries allowed at either placement: a request retried to the limit is
/// attempted `MAX_RETRIES + 1` times.
const MAX_RETRIES: u32 = 5;

// ===== certificates and configs =====

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for the IP address 127.0.0.1 (an IP SAN: no
/// name is ever resolved), and its key.
struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn identity() -> Identity {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    Identity {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(signing_key.serialize_der()).into(),
    }
}

fn acceptor(identity: &Identity) -> TlsAcceptor {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// hyper-rustls' connector trusting `trusted` only.
fn https(trusted: &CertificateDer<'static>, https_only: bool) -> Https {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let builder = HttpsConnectorBuilder::new().with_tls_config(config);
    let builder = if https_only {
        builder.https_only()
    } else {
        builder.https_or_http()
    };
    builder.enable_http1().build()
}

// ===== a TLS server on loopback =====

/// What the server does with a TCP connection it accepted.
#[derive(Clone, Copy, Debug)]
enum OnAccept {
    /// Reads the ClientHello, then closes (a FIN): the client's handshake
    /// meets the end of the stream ("tls handshake eof").
    CloseInHandshake,
    /// Closes at once with SO_LINGER 0 (an RST): the handshake is reset.
    ResetInHandshake,
    /// Completes the handshake and serves HTTP/1.1.
    Serve,
}

/// What a server saw.
#[derive(Clone, Default)]
struct Seen {
    /// TCP connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Requests its handler ran for.
    handled: Arc<AtomicUsize>,
}

impl Seen {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }
}

/// Serves TLS on `listener`: the first connections as `first` says, every
/// later one with [`OnAccept::Serve`].
fn serve(listener: TcpListener, identity: &Identity, first: &[OnAccept]) -> Seen {
    let seen = Seen::default();
    let acceptor = acceptor(identity);
    let script = first.to_vec();
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let n = counts.accepted.fetch_add(1, Ordering::SeqCst);
            match script.get(n).copied().unwrap_or(OnAccept::Serve) {
                OnAccept::CloseInHandshake => {
                    let mut hello = [0u8; 5];
                    // The record header of the ClientHello: the client is
                    // in its handshake, then meets the end of the stream.
                    let _ = tcp.read_exact(&mut hello).await;
                    let mut rest = vec![0u8; usize::from(u16::from_be_bytes([hello[3], hello[4]]))];
                    let _ = tcp.read_exact(&mut rest).await;
                    drop(tcp);
                }
                OnAccept::ResetInHandshake => {
                    tcp.set_zero_linger().unwrap();
                    drop(tcp);
                }
                OnAccept::Serve => {
                    let acceptor = acceptor.clone();
                    let handled = counts.handled.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = service_fn(move |request: Request<Incoming>| {
                            let handled = handled.clone();
                            async move {
                                let _ = request.into_body().collect().await;
                                handled.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            }
        }
    });
    seen
}

async fn tls_server(identity: &Identity, first: &[OnAccept]) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, serve(listener, identity, first))
}

// ===== the two placements =====

/// Counts the calls that reach hyper-rustls' connector.
#[derive(Clone)]
struct Counted {
    inner: Https,
    calls: Arc<AtomicUsize>,
}

impl Service<Uri> for Counted {
    type Response = <Https as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

#[derive(Clone, Copy, Debug)]
enum Placement {
    /// The layer around hyper-util's Client, with the default classifier.
    Client,
    /// The layer around the connector, with `BoxedConnectorClassifier`.
    Connector,
}

const PLACEMENTS: [Placement; 2] = [Placement::Client, Placement::Connector];

fn policy<C>(classifier: C) -> RetryPolicy<C> {
    RetryPolicy::builder()
        .max_retries(MAX_RETRIES)
        .backoff(Backoff::exponential(Duration::from_millis(20)).jitter(Jitter::None))
        // No waiting for room in a per-authority budget: attempts are
        // counted here, and the pauses kept short.
        .no_budget()
        .classifier(classifier)
        .build()
        .unwrap()
}

/// Sends `request` through hyper-rustls' connector with the layer at
/// `placement`; returns the outcome and how many times the connector was
/// called.
async fn send(
    placement: Placement,
    https: Https,
    request: Request<Full<Bytes>>,
) -> (Result<Response<Incoming>, ClientError>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let connector = Counted {
        inner: https,
        calls: calls.clone(),
    };
    let call = async {
        match placement {
            Placement::Client => {
                let client = Client::builder(TokioExecutor::new()).build(connector);
                let client = Retry::new(client, policy(tower_conn_retry::DefaultClassifier));
                client.oneshot(request).await
            }
            Placement::Connector => {
                let connector = Retry::new(connector, policy(BoxedConnectorClassifier));
                let client = Client::builder(TokioExecutor::new()).build(connector);
                client.request(request).await
            }
        }
    };
    // Every call here ends within a second; a hang fails, it does not wait.
    let outcome = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .unwrap_or_else(|_| panic!("the call ({placement:?}) did not end within 30 s"));
    (outcome, calls.load(Ordering::SeqCst))
}

fn post(uri: String) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from_static(b"order #1")))
        .unwrap()
}

// ===== tests =====

#[tokio::test]
async fn a_post_reaches_a_late_tls_server_after_refused_connects() {
    let identity = identity();
    for placement in PLACEMENTS {
        let addr = unused_addr();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_identity = Identity {
            cert: identity.cert.clone(),
            key: identity.key.clone_key(),
        };
        // Listens from 50 ms on: the first attempts are refused (pauses of
        // 20, 40, 80 ms put the third or fourth attempt after it).
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let listener = TcpListener::bind(addr).await.unwrap();
            let _ = tx.send(serve(listener, &server_identity, &[]));
        });

        let (outcome, calls) = send(
            placement,
            https(&identity.cert, true),
            post(format!("https://{addr}/orders")),
        )
        .await;

        let response = outcome.unwrap_or_else(|e| panic!("{placement:?}: {e:?}"));
        assert_eq!(response.status(), StatusCode::OK, "{placement:?}");
        let seen = rx.await.unwrap();
        assert!(calls >= 2, "{placement:?}: no refused attempt ({calls})");
        assert_eq!(seen.accepted(), 1, "{placement:?}");
        assert_eq!(seen.handled(), 1, "{placement:?}: the POST processed once");
    }
}

#[tokio::test]
async fn a_certificate_the_client_does_not_trust_is_attempted_once() {
    let (server, stranger) = (identity(), identity());
    for placement in PLACEMENTS {
        let (addr, seen) = tls_server(&server, &[]).await;

        let (outcome, calls) = send(
            placement,
            https(&stranger.cert, true),
            Request::get(format!("https://{addr}/"))
                .body(Full::default())
                .unwrap(),
        )
        .await;

        let error = outcome.expect_err("an untrusted certificate was accepted");
        assert!(error.is_connect(), "{placement:?}: {error:?}");
        assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{placement:?}");
        assert_eq!(calls, 1, "{placement:?}: {error:?}");
        assert_eq!(seen.accepted(), 1, "{placement:?}");
        assert_eq!(seen.handled(), 0, "{placement:?}");
    }
}

#[tokio::test]
async fn a_post_is_retried_after_a_handshake_the_server_broke() {
    use OnAccept::{CloseInHandshake, ResetInHandshake};
    let identity = identity();
    for placement in PLACEMENTS {
        for broken in [CloseInHandshake, ResetInHandshake] {
            let (addr, seen) = tls_server(&identity, &[broken, broken]).await;

            let (outcome, calls) = send(
                placement,
                https(&identity.cert, true),
                post(format!("https://{addr}/orders")),
            )
            .await;

            let response = outcome.unwrap_or_else(|e| panic!("{placement:?} {broken:?}: {e:?}"));
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(calls, 3, "{placement:?} {broken:?}");
            assert_eq!(seen.accepted(), 3, "{placement:?} {broken:?}");
            assert_eq!(
                seen.handled(),
                1,
                "{placement:?} {broken:?}: processed once"
            );
        }
    }
}

#[tokio::test]
async fn an_http_uri_on_an_https_only_connector_is_attempted_once() {
    let identity = identity();
    for placement in PLACEMENTS {
        let (addr, seen) = tls_server(&identity, &[]).await;

        let (outcome, calls) = send(
            placement,
            https(&identity.cert, true),
            post(format!("http://{addr}/orders")),
        )
        .await;

        let error = outcome.expect_err("https_only() took an http:// URI");
        assert!(
            format!("{error:?}").contains("unsupported scheme http"),
            "{error:?}"
        );
        assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{placement:?}");
        assert_eq!(calls, 1, "{placement:?}: retried a misconfiguration");
        assert_eq!(seen.accepted(), 0, "{placement:?}");
    }
}

#[tokio::test]
async fn a_host_rustls_cannot_verify_is_attempted_once() {
    let identity = identity();
    for placement in PLACEMENTS {
        let (addr, seen) = tls_server(&identity, &[]).await;
        // A host `http::Uri` takes and rustls never will: `!` is no DNS
        // name character (rustls-pki-types `server_name.rs`, `validate`),
        // and an all-numeric last label that is no IP address.
        for host in ["bad_name!", "300.1.1.1"] {
            let (outcome, calls) = send(
                placement,
                https(&identity.cert, true),
                post(format!("https://{host}:{}/orders", addr.port())),
            )
            .await;

            let error = outcome.expect_err("an invalid dns name was taken");
            assert!(
                format!("{error:?}").contains("InvalidDnsNameError"),
                "{error:?}"
            );
            assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{placement:?}");
            assert_eq!(calls, 1, "{placement:?} {host}: retried a misconfiguration");
        }
        assert_eq!(seen.accepted(), 0, "{placement:?}");
    }
}
