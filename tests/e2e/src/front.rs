//! A loopback front for `wrangler dev` that sends a request again when
//! wrangler's dev server lost it on the way to the Worker.
//!
//! Why: `wrangler dev` forwards each request from its proxy Worker to the
//! user Worker over pooled keep-alive connections, which both ends close
//! after kj's 5 s idle timeout. A request sent on a pooled connection just as
//! the other end closes it is lost (cloudflare/workers-sdk#14641, open):
//! wrangler answers a POST with `503 Your worker restarted mid-request`
//! although nothing restarted, Miniflare sometimes with `500 TypeError: Cannot
//! reconstruct a Request with a used body.`, and a GET is queued for a
//! restart that never comes, unanswered. Registry suite runs here failed in
//! one of these ways about one time in five, for reasons that are not
//! Outpost's; deployed Workers have no such proxy. (Asking for
//! `Connection: close` instead, so that nothing is pooled, made it worse: 37
//! of 50 concurrent registrations then came back 503.)
//!
//! So the front reads each request whole, sends it to wrangler on a
//! connection of its own, and sends it again (up to [`ATTEMPTS`] times) when
//! the answer is exactly one of those ([`LOST`]) or, for GET and HEAD, when
//! no answer starts within [`GET_PATIENCE`]. Every retry is reported on the
//! test's stderr. Other answers are relayed as they come. Heads and bodies
//! pass byte for byte, with the client's `Host`, so the Worker sees what the
//! client sent and URLs it builds point at the front.
//!
//! A retry is at least once, not exactly once: when the connection broke
//! after the Worker had read the request, the Worker may have acted on it.
//! A test would then see the second answer (a 409, say) with the front's
//! stderr line saying why.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// How often one request is sent before wrangler's 503 is passed on.
const ATTEMPTS: usize = 5;

/// How wrangler's dev server answers a request it lost on the way to the
/// Worker: the status, and the start of the body. The first is its proxy
/// Worker's (any method but GET and HEAD); the second Miniflare's entry
/// Worker's, when the connection to the Worker broke after the body was
/// read. Outpost's own errors are problem+json, never these.
const LOST: [(u16, &[u8]); 2] = [
    (503, b"Your worker restarted mid-request."),
    (
        500,
        b"TypeError: Cannot reconstruct a Request with a used body.",
    ),
];

/// A lost GET or HEAD is not answered at all: wrangler's proxy keeps it
/// queued for a restart that never comes. Without an answer's head within
/// this long, such a request is sent again (the Worker's slowest GET answers
/// in well under a second here).
const GET_PATIENCE: Duration = Duration::from_secs(15);

/// Longest head relayed (bytes); a longer one ends the connection, as a
/// server's header limit would.
const MAX_HEAD: usize = 256 * 1024;

/// Listens on a free loopback port and relays every connection to
/// `upstream`; returns the port. The listener lives as long as the process.
pub fn start(upstream: SocketAddr) -> io::Result<u16> {
    serve(TcpListener::bind("127.0.0.1:0")?, upstream)
}

/// Relays every connection `listener` accepts to `upstream` (bind the
/// listener before choosing upstream's port, so the two cannot be the same);
/// returns the listener's port.
pub fn serve(listener: TcpListener, upstream: SocketAddr) -> io::Result<u16> {
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                // A failed relay is a dropped connection, which the client
                // reports; there is no one else to tell.
                let _ = relay(client, upstream);
            });
        }
    });
    Ok(port)
}

/// How a message's body ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// One client connection: its requests in turn, each on a fresh upstream
/// connection.
fn relay(client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    while let Some(mut head) = read_head(&mut from_client)? {
        if field(&head, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            // The body is read here before anything is forwarded.
            to_client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            head = without_field(&head, "expect");
        }
        let method = head
            .split(|b| *b == b' ')
            .next()
            .unwrap_or_default()
            .to_vec();
        let mut request = head.clone();
        relay_body(&mut from_client, &mut request, request_framing(&head)?)?;

        let mut keep_open =
            field(&head, "connection").is_none_or(|v| !v.eq_ignore_ascii_case("close"));
        let idempotent = method == b"GET" || method == b"HEAD";
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            let server = TcpStream::connect(upstream)?;
            server.set_nodelay(true)?;
            (&server).write_all(&request)?;
            if idempotent && !last {
                server.set_read_timeout(Some(GET_PATIENCE))?;
            }
            let mut from_server = BufReader::new(server);
            let answer = loop {
                let answer = match read_head(&mut from_server) {
                    Ok(Some(answer)) => answer,
                    // Closed without a word: a GET or HEAD is sent again.
                    Ok(None) if idempotent && !last => break None,
                    Ok(None) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "no answer from wrangler",
                        ));
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break None;
                    }
                    Err(e) => return Err(e),
                };
                if status(&answer) / 100 != 1 {
                    break Some(answer);
                }
                to_client.write_all(&answer)?;
            };
            let Some(answer) = answer else {
                lost(&head, "no answer");
                continue;
            };
            from_server.get_ref().set_read_timeout(None)?;
            let framing = response_framing(&method, &answer)?;
            if framing == Framing::UntilClose
                || field(&answer, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                keep_open = false;
            }
            let code = status(&answer);
            if !last && LOST.iter().any(|(lost, _)| *lost == code) {
                let mut body = Vec::new();
                relay_body(&mut from_server, &mut body, framing)?;
                // The text as sent: wrangler's 503 comes gzipped and chunked
                // to a client that accepts gzip (as every client here does).
                let text = decoded(&answer, framing, &body);
                if LOST
                    .iter()
                    .any(|(lost, start)| *lost == code && text.starts_with(start))
                {
                    lost(&head, &String::from_utf8_lossy(&text));
                    continue;
                }
                to_client.write_all(&answer)?;
                to_client.write_all(&body)?;
            } else {
                to_client.write_all(&answer)?;
                relay_body(&mut from_server, &mut to_client, framing)?;
            }
            break;
        }
        to_client.flush()?;
        if !keep_open {
            break;
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    Ok(())
}

/// A body as its sender wrote it: without chunked framing, and gunzipped when
/// its `Content-Encoding` is gzip. Empty if it cannot be decoded.
fn decoded(head: &[u8], framing: Framing, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    if framing == Framing::Chunked {
        let mut reader = body;
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).is_err() {
                return Vec::new();
            }
            let Some(size) = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            else {
                return Vec::new();
            };
            if size == 0 || reader.len() < size + 2 {
                break;
            }
            plain.extend_from_slice(&reader[..size]);
            reader = &reader[size + 2..];
        }
    } else {
        plain.extend_from_slice(body);
    }
    if field(head, "content-encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip")) {
        let mut text = Vec::new();
        return match flate2::read::GzDecoder::new(plain.as_slice()).read_to_end(&mut text) {
            Ok(_) => text,
            Err(_) => Vec::new(),
        };
    }
    plain
}

/// Says on the test's stderr that a request is sent again, and why.
fn lost(head: &[u8], why: &str) {
    let start = head.split(|b| *b == b'\r').next().unwrap_or_default();
    eprintln!(
        "front: wrangler dev lost `{}` on its way to the Worker ({}); sending it again",
        String::from_utf8_lossy(start),
        why.lines().next().unwrap_or_default()
    );
}

/// Reads a head (start line and fields, through the empty line); `None` if
/// the connection ends before any byte of one.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection ended inside a head",
                ))
            };
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        if matches!(&head[before..], b"\r\n" | b"\n") {
            return Ok(Some(head));
        }
    }
}

/// The field lines of a head, as (name, value) with the value trimmed.
fn fields(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|b| *b == b'\n').skip(1).filter_map(|line| {
        let colon = line.iter().position(|b| *b == b':')?;
        Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
    })
}

/// The value of the first field called `name` (case-insensitive), as text.
fn field<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    fields(head)
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The head without its fields called `name`.
fn without_field(head: &[u8], name: &str) -> Vec<u8> {
    head.split_inclusive(|b| *b == b'\n')
        .filter(|line| {
            let field_name = line.split(|b| *b == b':').next().unwrap_or_default();
            !(line.contains(&b':')
                && field_name
                    .trim_ascii()
                    .eq_ignore_ascii_case(name.as_bytes()))
        })
        .flatten()
        .copied()
        .collect()
}

/// A response head's status code (0 if unreadable).
fn status(head: &[u8]) -> u16 {
    head.split(|b| *b == b' ')
        .nth(1)
        .and_then(|code| std::str::from_utf8(code).ok()?.parse().ok())
        .unwrap_or(0)
}

fn declared_length(head: &[u8]) -> io::Result<Option<u64>> {
    field(head, "content-length")
        .map(|v| {
            v.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "unreadable content-length")
            })
        })
        .transpose()
}

fn is_chunked(head: &[u8]) -> bool {
    field(head, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

fn request_framing(head: &[u8]) -> io::Result<Framing> {
    Ok(if is_chunked(head) {
        Framing::Chunked
    } else {
        declared_length(head)?.map_or(Framing::Empty, Framing::Length)
    })
}

fn response_framing(method: &[u8], head: &[u8]) -> io::Result<Framing> {
    let code = status(head);
    Ok(if method == b"HEAD" || code == 204 || code == 304 {
        Framing::Empty
    } else if is_chunked(head) {
        Framing::Chunked
    } else {
        declared_length(head)?.map_or(Framing::UntilClose, Framing::Length)
    })
}

/// Copies one body, framing included, from `reader` to `writer`.
fn relay_body(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
    framing: Framing,
) -> io::Result<()> {
    match framing {
        Framing::Empty => {}
        Framing::Length(length) => {
            let copied = io::copy(&mut reader.take(length), writer)?;
            if copied != length {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Framing::UntilClose => {
            io::copy(reader, writer)?;
        }
        Framing::Chunked => loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            writer.write_all(&line)?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| u64::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let mut trailer = Vec::new();
                    if reader.read_until(b'\n', &mut trailer)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    writer.write_all(&trailer)?;
                    if matches!(trailer.as_slice(), b"\r\n" | b"\n") {
                        return Ok(());
                    }
                }
            }
            // The chunk and its CRLF.
            let whole = size
                .checked_add(2)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            let copied = io::copy(&mut reader.take(whole), writer)?;
            if copied != whole {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        },
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// A fake upstream: answers each connection with the next of `answers`
    /// and returns the requests it read.
    fn upstream(answers: Vec<&'static [u8]>) -> (SocketAddr, thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let head = read_head(&mut reader).unwrap().unwrap();
                let mut request = head.clone();
                relay_body(&mut reader, &mut request, request_framing(&head).unwrap()).unwrap();
                requests.push(request);
                (&stream).write_all(answer).unwrap();
            }
            requests
        });
        (address, handle)
    }

    const LOST_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 125\r\nRetry-After: 0\r\n\r\nYour worker restarted mid-request. Please try sending the request again. Only GET or HEAD requests are retried automatically.";

    #[test]
    fn a_request_lost_by_the_dev_proxy_is_sent_again_byte_for_byte() {
        let ok: &[u8] =
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let (address, server) = upstream(vec![LOST_ANSWER, LOST_ANSWER, ok]);
        let port = start(address).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let sent: &[u8] = b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        client.write_all(sent).unwrap();
        let mut reader = BufReader::new(client);
        let head = read_head(&mut reader).unwrap().unwrap();
        let mut body = Vec::new();
        relay_body(
            &mut reader,
            &mut body,
            response_framing(b"POST", &head).unwrap(),
        )
        .unwrap();
        assert_eq!(status(&head), 201);
        assert_eq!(body, b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(server.join().unwrap(), vec![sent.to_vec(); 3]);
    }

    #[test]
    fn a_gzipped_chunked_lost_answer_is_recognised_too() {
        use std::io::Write as _;
        let text = b"Your worker restarted mid-request. Please try sending the request again.";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        let mut lost = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            gz.len()
        )
        .into_bytes();
        lost.extend_from_slice(&gz);
        lost.extend_from_slice(b"\r\n0\r\n\r\n");
        let lost: &'static [u8] = Box::leak(lost.into_boxed_slice());
        let ok: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (address, server) = upstream(vec![lost, ok]);
        let port = start(address).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .write_all(b"DELETE /t HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(client);
        assert_eq!(status(&read_head(&mut reader).unwrap().unwrap()), 204);
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[test]
    fn other_answers_pass_on_the_first_attempt_and_the_connection_stays_open() {
        let refused: &[u8] =
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\nnot ready";
        let head_answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
        let (address, server) = upstream(vec![refused, head_answer]);
        let port = start(address).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let head = read_head(&mut reader).unwrap().unwrap();
        let mut body = Vec::new();
        relay_body(
            &mut reader,
            &mut body,
            response_framing(b"GET", &head).unwrap(),
        )
        .unwrap();
        assert_eq!((status(&head), body.as_slice()), (503, &b"not ready"[..]));
        // A HEAD on the same connection: a length, and no body to wait for.
        client
            .write_all(b"HEAD /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let head = read_head(&mut reader).unwrap().unwrap();
        assert_eq!(field(&head, "content-length"), Some("42"));
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[test]
    fn expect_continue_is_answered_here_and_not_forwarded() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (address, server) = upstream(vec![ok]);
        let port = start(address).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .write_all(
                b"PUT /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
            )
            .unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        assert_eq!(status(&read_head(&mut reader).unwrap().unwrap()), 100);
        client.write_all(b"ok").unwrap();
        assert_eq!(status(&read_head(&mut reader).unwrap().unwrap()), 200);
        // `Connection: close` from upstream: the front closes too.
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            server.join().unwrap(),
            vec![b"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok".to_vec()]
        );
    }
}
