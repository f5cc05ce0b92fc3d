//! Serving the HTTP app on a socket, with bounds on what a client can hold:
//! a cap on open connections, a deadline for each request's headers (which
//! also closes a keep-alive connection idle that long), a deadline for each
//! request's body, and a deadline on any write the client does not read.
//!
//! `axum::serve` has none of these, so a client that opens connections and
//! never finishes its requests would hold descriptors until none were left.
//! `tests/connections.rs` checks each bound on the real binary.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};

/// What one client may hold, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionPolicy {
    /// Connections open at once; past it, a new connection gets a 503 and is closed.
    pub max_connections: usize,
    /// From the first byte of a request (or the end of the previous answer on
    /// a kept-alive connection) to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// How long one write may wait for a client that does not read.
    pub write_timeout: Duration,
}

impl Default for ConnectionPolicy {
    fn default() -> Self {
        ConnectionPolicy {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl ConnectionPolicy {
    /// Connections the process can afford: at most `wanted`, leaving room
    /// under the open-file limit for the store, logs and accepted sockets
    /// being refused. Raises the soft limit to the hard one first.
    pub fn affordable_connections(wanted: usize) -> usize {
        const RESERVED: u64 = 256;
        let limit = raise_open_file_limit();
        let affordable = limit.saturating_sub(RESERVED).max(16) as usize;
        if affordable < wanted {
            tracing::warn!(
                wanted,
                open_file_limit = limit,
                "the open-file limit allows only {affordable} connections; raise `ulimit -n` for more"
            );
        }
        wanted.min(affordable)
    }
}

/// Raise the soft open-file limit to the hard one; returns the soft limit now.
fn raise_open_file_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    }
}

/// Serve `app` on `listener` until `shutdown` completes; then stop
/// accepting, let open requests finish (at most `drain` long) and return.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    policy: ConnectionPolicy,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    let body_timeout = policy.body_timeout;
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| async move {
            let req = req.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
            next.run(req).await
        },
    ));
    let slots = Arc::new(Semaphore::new(policy.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before
                    // accept: keep serving the others.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(WriteDeadline::new(stream, policy.write_timeout));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(policy.header_timeout)
                .serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every slot back means every connection closed.
    let all = u32::try_from(policy.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {drain:?}; closing them");
    }
    Ok(())
}

/// A connection over the cap: a short 503 so the client knows to retry,
/// then close (the descriptor is freed at once).
async fn refuse(mut stream: TcpStream) {
    const BODY: &str =
        r#"{"error":{"code":"overloaded","message":"too many open connections; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
}

/// A request body that must arrive in full by a deadline.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl DeadlineBody {
    fn new(inner: Body, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

/// The error a body that missed its deadline gives its reader.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A stream whose writes fail when the peer has not taken any bytes for
/// `timeout`: a client that sends requests and never reads the answers
/// would otherwise hold its connection (and the answer's memory) forever.
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Armed while a write waits for the peer.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, timeout: Duration) -> WriteDeadline<S> {
        WriteDeadline {
            inner,
            timeout,
            waiting: None,
        }
    }

    /// Pass a ready result on and disarm the deadline; on Pending, fail
    /// once the deadline passed.
    fn settle<T>(
        &mut self,
        cx: &mut Context<'_>,
        inner: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if inner.is_ready() {
            self.waiting = None;
            return inner;
        }
        let timeout = self.timeout;
        let sleep = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the answer in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let inner = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.settle(cx, inner)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let inner = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.settle(cx, inner)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let inner = Pin::new(&mut self.inner).poll_flush(cx);
        self.settle(cx, inner)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
