//! What one client can hold of the real `switchyard serve`, at the socket:
//! connections over `--max-connections` get a 503 and are closed (and room
//! comes back when a connection ends), headers that never end and bodies
//! that never arrive are cut off at their deadlines, nothing is stored
//! from a request whose body did not arrive, and a client that never reads
//! its answers loses its connection at the write deadline.

#[path = "support/loadgen.rs"]
mod loadgen;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use loadgen::Server;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const DEMO_KEY: &str = "demo-key-for-connection-tests";

/// Send `request` and read until the server closes or answers in full
/// (`Content-Length` bytes of body), at most `wait`.
fn exchange(stream: &mut TcpStream, request: &[u8], wait: Duration) -> String {
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn healthz() -> &'static [u8] {
    b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
}

#[test]
fn connections_over_the_cap_get_a_503_and_room_comes_back() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(BIN, data.path(), DEMO_KEY, &["--max-connections", "2"]);
    // Two kept-alive connections: at the cap, both served.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            let answer = exchange(&mut s, healthz(), Duration::from_secs(5));
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            s
        })
        .collect();
    // One over: refused with a readable answer, and closed.
    let mut third = TcpStream::connect(server.addr).unwrap();
    let answer = exchange(&mut third, healthz(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"overloaded\""), "{answer}");
    // A held connection ends: its place is free again.
    drop(held.pop());
    let started = Instant::now();
    loop {
        let mut again = TcpStream::connect(server.addr).unwrap();
        let answer = exchange(&mut again, healthz(), Duration::from_secs(5));
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no room came back: {answer}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn headers_that_never_end_are_cut_off_at_the_header_deadline() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(BIN, data.path(), DEMO_KEY, &["--header-timeout-secs", "1"]);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    // No blank line: the headers never end.
    let answer = exchange(
        &mut slow,
        b"GET /healthz HTTP/1.1\r\nHost: test\r\n",
        Duration::from_secs(10),
    );
    let waited = started.elapsed();
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "closed after {waited:?}, the deadline is 1 s"
    );
    // Others are served meanwhile and after.
    let mut other = TcpStream::connect(server.addr).unwrap();
    assert!(exchange(&mut other, healthz(), Duration::from_secs(5)).starts_with("HTTP/1.1 200"));
}

#[test]
fn a_body_that_never_arrives_is_refused_and_nothing_is_stored() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(BIN, data.path(), DEMO_KEY, &["--body-timeout-secs", "1"]);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    let head = format!(
        "POST /v1/conversations/never-sent/messages HTTP/1.1\r\nHost: test\r\n\
         Authorization: Bearer {DEMO_KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"text\": \"wh"
    );
    let answer = exchange(&mut slow, head.as_bytes(), Duration::from_secs(10));
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive within 1s"), "{answer}");
    assert!(waited < Duration::from_secs(8), "answered after {waited:?}");
    let mut check = TcpStream::connect(server.addr).unwrap();
    let answer = exchange(
        &mut check,
        format!("GET /v1/conversations/never-sent HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {DEMO_KEY}\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    );
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "nothing stored: {answer}"
    );
}

/// A client that pipelines requests for large answers and never reads them
/// fills the socket buffers; the server's write then waits on it. Without
/// the write deadline such a client held its connection (its place under the
/// cap, and the answers' memory) for as long as it liked.
#[test]
fn a_client_that_never_reads_its_answers_is_cut_off_at_the_write_deadline() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        BIN,
        data.path(),
        DEMO_KEY,
        &["--max-connections", "1", "--write-timeout-secs", "1"],
    );
    let mut hoarder = TcpStream::connect(server.addr).unwrap();
    hoarder
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let request = format!(
        "GET /v1/knowledge/articles?limit=500 HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {DEMO_KEY}\r\n\r\n"
    );
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let mut sent = 0usize;
        // Write until the server closes the connection; never read.
        while started.elapsed() < Duration::from_secs(60) {
            match hoarder.write(request.as_bytes()) {
                Ok(n) => sent += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return (sent, Some(e.kind()), started.elapsed()),
            }
        }
        (sent, None, started.elapsed())
    });
    // The one place under the cap is the hoarder's until the deadline cuts it.
    let started = Instant::now();
    let mut refused = 0;
    loop {
        let mut probe = TcpStream::connect(server.addr).unwrap();
        let answer = exchange(&mut probe, healthz(), Duration::from_secs(5));
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        refused += 1;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the hoarder kept its connection for 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (sent, closed, after) = writer.join().unwrap();
    assert!(refused > 0, "the hoarder never held the only place");
    assert!(
        closed.is_some(),
        "the server never closed the hoarder's connection ({sent} bytes sent in {after:?})"
    );
    assert!(sent > 0);
}
