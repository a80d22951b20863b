//! A webhook receiver for tests: a plain HTTP/1.1 listener on 127.0.0.1
//! that records every request (headers and body) and answers with the
//! statuses it was given, in order (the last one repeats).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug)]
pub struct WebhookReceiver {
    pub url: String,
    received: Mutex<Receiver<Delivery>>,
    /// Everything received so far, in order.
    pub log: Arc<Mutex<Vec<Delivery>>>,
}

impl WebhookReceiver {
    /// Listens on a free port; `statuses` are the answers, in order.
    pub fn start(statuses: &[u16]) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let (tx, rx) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let answers: Arc<Mutex<VecDeque<u16>>> =
            Arc::new(Mutex::new(statuses.iter().copied().collect()));
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(delivery) = read_request(&mut stream) else {
                    continue;
                };
                let status = {
                    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
                    if answers.len() > 1 {
                        answers.pop_front().unwrap_or(200)
                    } else {
                        answers.front().copied().unwrap_or(200)
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                thread_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(delivery.clone());
                if tx.send(delivery).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            url,
            received: Mutex::new(rx),
            log,
        })
    }

    /// The next request, waiting at most `timeout` for it.
    pub fn next(&self, timeout: Duration) -> Option<Delivery> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(timeout)
            .ok()
    }

    /// Waits (at most `timeout` in all) for a request whose payload `type`
    /// is `event`; requests of other types are skipped (they stay in `log`).
    pub fn wait_for(&self, event: &str, timeout: Duration) -> Option<Delivery> {
        if let Some(found) = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|d| d.json()["type"] == event)
        {
            return Some(found.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let delivery = self.next(left)?;
            if delivery.json()["type"] == event {
                return Some(delivery);
            }
        }
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Delivery> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Delivery {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Checks a received delivery's Standard Webhooks signature with the
/// endpoint's secret (`whsec_…`), and that a changed body would not pass.
pub fn verify_delivery(secret: &str, d: &Delivery) -> Result<(), String> {
    let secret = outpost_core::webhook::WebhookSecret::parse(secret).map_err(|e| format!("{e}"))?;
    let id = d.header("webhook-id").unwrap_or_default();
    let timestamp: i64 = d
        .header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("no webhook-timestamp")?;
    let signature = d.header("webhook-signature").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("{e}"))?
        .as_secs() as i64;
    secret
        .verify(id, timestamp, signature, d.body.as_bytes(), now)
        .map_err(|e| format!("signature of {id}: {e}"))?;
    let tampered = format!("{} ", d.body);
    if secret
        .verify(id, timestamp, signature, tampered.as_bytes(), now)
        .is_ok()
    {
        return Err("a changed body passed verification".into());
    }
    if !id.starts_with("msg_") {
        return Err(format!("webhook-id {id}"));
    }
    Ok(())
}
