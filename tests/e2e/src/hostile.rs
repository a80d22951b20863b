//! A hostile registry for the attack suite: an HTTP server on loopback that
//! forwards every GET to the real local Worker and lets a test rewrite the
//! answer — the network attacker, the compromised mirror, or a Worker whose
//! online keys leaked. Devices are pointed at it instead of the Worker.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the real Worker answered.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What the hostile server sends instead.
#[derive(Debug, Clone)]
pub enum Served {
    /// A complete answer with a Content-Length.
    Reply(Upstream),
    /// `prefix`, then zeros until the client hangs up (no length).
    Endless { prefix: Vec<u8> },
}

/// Rewrites the Worker's answer to `GET path` (path includes the query).
pub type Tamper = dyn Fn(&str, Upstream) -> Served + Send + Sync;

pub struct HostileServer {
    pub base_url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl HostileServer {
    pub fn start(upstream: &str, tamper: Box<Tamper>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let tamper: Arc<Tamper> = Arc::from(tamper);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let upstream = upstream.clone();
                        let tamper = tamper.clone();
                        std::thread::spawn(move || {
                            let _ = serve(stream, &upstream, tamper.as_ref());
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self {
            base_url,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Forwards a GET to the Worker, as the device sent it (with its token).
pub fn fetch(upstream: &str, path: &str, authorization: Option<&str>) -> std::io::Result<Upstream> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = agent.get(format!("{upstream}{path}"));
    if let Some(auth) = authorization {
        request = request.header("authorization", auth);
    }
    let mut response = request.call().map_err(std::io::Error::other)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .map_err(std::io::Error::other)?;
    Ok(Upstream {
        status,
        content_type,
        body,
    })
}

fn serve(stream: TcpStream, upstream: &str, tamper: &Tamper) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let answer = tamper(&path, fetch(upstream, &path, authorization.as_deref())?);
    let mut out = stream;
    match answer {
        Served::Reply(reply) => {
            write!(
                out,
                "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reply.status,
                reply.content_type,
                reply.body.len()
            )?;
            out.write_all(&reply.body)?;
        }
        Served::Endless { prefix } => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n"
            )?;
            out.write_all(&prefix)?;
            let zeros = vec![0u8; 64 << 10];
            // Until the client hangs up (a write fails), or 1 GiB.
            for _ in 0..(1 << 14) {
                out.write_all(&zeros)?;
            }
        }
    }
    out.flush()
}

/// A JSON answer of 200, as the hostile server sends forged metadata.
pub fn json_reply(value: &serde_json::Value) -> Served {
    Served::Reply(Upstream {
        status: 200,
        content_type: "application/json".into(),
        body: value.to_string().into_bytes(),
    })
}

/// `{"signed", "signatures"}` over `signed` by `keys`.
pub fn envelope(
    signed: serde_json::Value,
    keys: &[&outpost_core::signing::SigningKey],
) -> Result<serde_json::Value, libtest_mimic::Failed> {
    let signatures = keys
        .iter()
        .map(|k| k.sign(&signed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e}"))?;
    Ok(serde_json::json!({"signed": signed, "signatures": signatures}))
}

/// A deterministic ed25519 key no root names: the attacker's.
pub fn fresh_key(seed: u8) -> Result<outpost_core::signing::SigningKey, libtest_mimic::Failed> {
    // The PKCS#8 v1 prefix of an ed25519 private key (RFC 8410), then the seed.
    let mut doc = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    doc.extend([seed; 32]);
    outpost_core::signing::SigningKey::from_pkcs8(&doc).map_err(|e| format!("{e}").into())
}

/// A hostile server that re-signs every answer whose path contains `part`
/// with [`fresh_key`]`(seed)`: right content, wrong signer.
pub fn re_signed_by_impostor(
    upstream: &str,
    part: &'static str,
    seed: u8,
) -> Result<HostileServer, libtest_mimic::Failed> {
    let impostor = fresh_key(seed)?;
    HostileServer::start(
        upstream,
        Box::new(move |path, up| {
            if path.contains(part)
                && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&up.body)
                && let Ok(forged) = envelope(value["signed"].clone(), &[&impostor])
            {
                return json_reply(&forged);
            }
            Served::Reply(up)
        }),
    )
    .map_err(|e| format!("starting the hostile server: {e}").into())
}
