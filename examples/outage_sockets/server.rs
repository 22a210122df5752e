//! The server: hyper on 127.0.0.1, on a one-thread runtime of its own, with
//! a real cost per connection and a bounded capacity.
//!
//! - Every accepted connection costs `Costs::handshake` of busy CPU in the
//!   accept loop before the server sends its one-byte greeting, as a TLS
//!   server computes its half of the handshake before its first flight.
//!   The server cannot know whether the client is still there (it learns
//!   only when it writes), so a connection its client gave up on costs the
//!   same, and is wasted.
//! - Every request costs `Costs::serve` more, then gets `200 OK`.
//! - The capacity is the one thread: whatever it cannot do at once queues,
//!   in the kernel's accept queue (backlog 1024) and in its run queue.
//! - The outage: at `down_at` the listener is dropped (new connects are
//!   refused, the ones in the accept queue reset) and every open connection
//!   is closed, as a process restart does; `down_for` later the same port
//!   is bound again.
//!
//! How a cost is spent (`Spend`):
//! - `Spend::Clock` (the default): one server-wide worker, busy until a
//!   time on the wall clock; each cost is booked after the ones before it
//!   and awaited (a queue with one server, in real time). The capacity is
//!   exact whatever else the machine runs, and not rounded to the timer's
//!   millisecond: the costs are booked back to back.
//! - `Spend::Cpu` (`--cpu`): busy CPU, spinning on the server's one thread.
//!   The realest cost, but its capacity is the share of a core the thread
//!   gets: on a machine busy with other work the server is slower than
//!   planned and overloaded before any outage.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;

/// What the server spends.
#[derive(Clone, Copy, Debug)]
pub struct Costs {
    /// Per new connection, before the greeting.
    pub handshake: Duration,
    /// Per request.
    pub serve: Duration,
    pub spend: Spend,
}

/// How a cost is spent: see the module's documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    Clock,
    Cpu,
}

/// The server's one worker: busy until `busy_until`.
#[derive(Clone)]
struct Worker {
    spend: Spend,
    busy_until: Arc<Mutex<Instant>>,
}

impl Worker {
    /// Spends `cost` after every cost booked before it.
    async fn spend(&self, cost: Duration) {
        match self.spend {
            Spend::Cpu => burn(cost),
            Spend::Clock => {
                let done = {
                    let mut busy_until = self.busy_until.lock().expect("not poisoned");
                    *busy_until = (*busy_until).max(Instant::now()) + cost;
                    *busy_until
                };
                tokio::time::sleep_until(done.into()).await;
            }
        }
    }
}

/// When the server is down.
#[derive(Clone, Copy, Debug)]
pub struct Outage {
    pub down_at: Instant,
    pub down_for: Duration,
}

/// A running server; dropping it does not stop it, `stop` does.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// Starts a server on a free loopback port, in a thread of its own.
    pub fn start(costs: Costs, outage: Outage) -> std::io::Result<Server> {
        // Bound here, so the port is known before the thread starts.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = std_listener.local_addr()?;
        drop(std_listener);
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            listen(addr)?
        };
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("server".into())
                .spawn(move || runtime.block_on(serve(listener, addr, costs, outage, stop)))?
        };
        Ok(Server { addr, stop, thread })
    }

    /// Stops the server and waits for its thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Binds `addr` (again): `SO_REUSEADDR`, so the port of the connections
/// left in TIME_WAIT can be bound at once.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Spends `cost` of busy CPU.
fn burn(cost: Duration) {
    let until = Instant::now() + cost;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    costs: Costs,
    outage: Outage,
    stop: Arc<AtomicBool>,
) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    let down_at = tokio::time::Instant::from_std(outage.down_at);
    let mut outage_done = false;
    let mut check_stop = tokio::time::interval(Duration::from_millis(50));
    let worker = Worker {
        spend: costs.spend,
        busy_until: Arc::new(Mutex::new(Instant::now())),
    };
    loop {
        while connections.try_join_next().is_some() {}
        let accepting = listener.as_ref().expect("listening between outages");
        tokio::select! {
            accepted = accepting.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                // One handshake at a time: the others wait in the kernel's
                // accept queue, as behind a busy accept loop.
                worker.spend(costs.handshake).await;
                // The greeting; a client that gave up makes this fail (or
                // its kernel answers with a reset): the handshake was
                // wasted.
                if greet(&mut stream).is_err() {
                    continue;
                }
                let worker = worker.clone();
                connections.spawn(async move {
                    let service = service_fn(move |_: http::Request<Incoming>| {
                        let worker = worker.clone();
                        async move {
                        worker.spend(costs.serve).await;
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }});
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = tokio::time::sleep_until(down_at), if !outage_done => {
                outage_done = true;
                drop(listener.take());
                connections.abort_all();
                while connections.join_next().await.is_some() {}
                tokio::time::sleep(outage.down_for).await;
                // Rebinding can fail while the kernel still holds the port
                // (it should not, with SO_REUSEADDR): try for up to 1 s.
                for _ in 0..100 {
                    match listen(addr) {
                        Ok(bound) => {
                            listener = Some(bound);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                if listener.is_none() {
                    eprintln!("server: could not bind {addr} again");
                    return;
                }
            }
            _ = check_stop.tick() => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
    }
}

/// Writes the one-byte greeting without waiting: a fresh socket's send
/// buffer is empty.
fn greet(stream: &mut tokio::net::TcpStream) -> std::io::Result<()> {
    match stream.try_write(b"!") {
        Ok(1) => Ok(()),
        Ok(_) => Err(std::io::ErrorKind::WriteZero.into()),
        Err(error) => Err(error),
    }
}
