//! The one place the CLI talks HTTP: an authenticated client for one
//! organisation, with problem+json bodies turned into errors that say what to
//! do next.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use outpost_core::Problem;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A response as the commands need it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as an RFC 9457 problem, if it is one.
    pub fn problem(&self) -> Option<Problem> {
        serde_json::from_str(&self.body).ok()
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // Error statuses carry problem+json bodies we want to read.
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .build()
        .into()
}

/// Joins a base URL and an absolute path without doubling or dropping slashes.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn unreachable(url: &str) -> String {
    format!(
        "could not reach {url}. Is the registry running (scripts/dev.sh starts one locally) \
         and is --url / OUTPOST_URL right?"
    )
}

pub fn get(base: &str, path: &str) -> Result<Reply> {
    let url = join(base, path);
    let response = agent()
        .get(&url)
        .call()
        .with_context(|| unreachable(&url))?;
    read_reply(&url, response)
}

/// POST a JSON body to a path outside any organisation, with a bearer.
pub fn post_json<B: Serialize>(base: &str, path: &str, bearer: &str, body: &B) -> Result<Reply> {
    let url = join(base, path);
    let response = agent()
        .post(&url)
        .header("authorization", &format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .send(serde_json::to_string(body)?)
        .with_context(|| unreachable(&url))?;
    read_reply(&url, response)
}

fn read_reply(url: &str, mut response: ureq::http::Response<ureq::Body>) -> Result<Reply> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .with_context(|| format!("reading the response from {url}"))?;
    Ok(Reply { status, body })
}

/// What to try after an error status.
fn hint(status: u16) -> &'static str {
    match status {
        401 => "check your token (--token / OUTPOST_TOKEN / profile); it may be expired or revoked",
        403 => {
            "your token's role or organisation does not allow this; ask an admin of the organisation"
        }
        404 => "check the names and versions (`outpost model list`, `outpost versions list MODEL`)",
        409 => {
            "the request conflicts with the current state; change what the message names and retry"
        }
        422 => "fix the request as the message says and retry",
        500..=599 => "the registry failed; retry, and check its logs if it persists",
        _ => "see the message above",
    }
}

/// Turns an error reply into an error that says what happened and what to do.
pub fn error_from(reply: &Reply) -> anyhow::Error {
    match reply.problem() {
        Some(problem) => anyhow!(
            "{} ({}): {}\nhint: {}",
            problem.title,
            problem.status,
            problem.detail.unwrap_or_default(),
            hint(reply.status)
        ),
        None => anyhow!(
            "HTTP {}: {}\nhint: {}",
            reply.status,
            reply.body.chars().take(300).collect::<String>(),
            hint(reply.status)
        ),
    }
}

/// An authenticated client for one organisation.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    pub org: String,
    token: String,
    /// The path every request's path is relative to.
    root: String,
}

impl Client {
    pub fn new(base: &str, org: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            org: org.to_owned(),
            token: token.to_owned(),
            root: format!("/v1/orgs/{org}"),
        }
    }

    /// A client for the restore of `org` (`/v1/admin/restores/{org}`),
    /// authorised by the deployment's bootstrap secret.
    pub fn restoring(base: &str, org: &str, bootstrap_secret: &str) -> Self {
        Self {
            root: format!("/v1/admin/restores/{org}"),
            ..Self::new(base, org, bootstrap_secret)
        }
    }

    pub fn org_url(&self, path: &str) -> String {
        join(&self.base, &format!("{}{path}", self.root))
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn finish(
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply> {
        read_reply(url, response.with_context(|| unreachable(url))?)
    }

    pub fn get_reply(&self, path: &str) -> Result<Reply> {
        let url = self.org_url(path);
        Self::finish(
            &url,
            agent()
                .get(&url)
                .header("authorization", &self.auth())
                .call(),
        )
    }

    /// GET and decode, or fail with the problem.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let reply = self.get_reply(path)?;
        decode(&reply)
    }

    pub fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T> {
        decode(&self.send_reply(method, path, body)?)
    }

    /// Sends a JSON body and returns the reply whatever its status.
    pub fn send_reply<B: Serialize>(&self, method: &str, path: &str, body: &B) -> Result<Reply> {
        let url = self.org_url(path);
        let text = serde_json::to_string(body)?;
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", self.auth())
            .header("content-type", "application/json")
            .body(text)?;
        Self::finish(&url, agent().run(request))
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = self.org_url(path);
        let reply = Self::finish(
            &url,
            agent()
                .delete(&url)
                .header("authorization", &self.auth())
                .call(),
        )?;
        decode(&reply)
    }

    /// The status of a HEAD request (is the resource there?).
    pub fn head_status(&self, path: &str) -> Result<u16> {
        let url = self.org_url(path);
        let response = agent()
            .head(&url)
            .header("authorization", &self.auth())
            .call()
            .with_context(|| unreachable(&url))?;
        Ok(response.status().as_u16())
    }

    /// The entity tag a HEAD answered with while accepting gzip (ureq asks
    /// for gzip itself, and hides `Content-Encoding` from its caller, so
    /// the tag says which representation it was: `+gzip` for a copy);
    /// `None` for an error status.
    pub fn head_etag(&self, path: &str) -> Result<Option<String>> {
        let url = self.org_url(path);
        let response = agent()
            .head(&url)
            .header("authorization", &self.auth())
            .header("accept-encoding", "gzip")
            .call()
            .with_context(|| unreachable(&url))?;
        Ok(response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .filter(|_| response.status().is_success())
            .map(str::to_owned))
    }

    /// PUT a body of known length from a reader (streamed, not buffered).
    pub fn put_stream(
        &self,
        path: &str,
        size: u64,
        reader: impl Read + Send + Sync + 'static,
    ) -> Result<Reply> {
        let url = self.org_url(path);
        let response = agent()
            .put(&url)
            .header("authorization", &self.auth())
            .header("x-outpost-size", &size.to_string())
            .header("content-length", &size.to_string())
            .header("content-type", "application/octet-stream")
            .send(ureq::SendBody::from_owned_reader(reader));
        Self::finish(&url, response)
    }

    /// PUT raw bytes with extra headers.
    pub fn put_bytes(&self, path: &str, headers: &[(&str, &str)], bytes: Vec<u8>) -> Result<Reply> {
        let url = self.org_url(path);
        let mut request = agent()
            .put(&url)
            .header("authorization", &self.auth())
            .header("content-type", "application/octet-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::finish(&url, request.send(&bytes[..]))
    }

    /// GET a body as a stream (for artifacts).
    pub fn get_stream(&self, path: &str) -> Result<(u16, Box<dyn Read + Send + Sync>)> {
        let url = self.org_url(path);
        let response = agent()
            .get(&url)
            .header("authorization", &self.auth())
            .call()
            .with_context(|| unreachable(&url))?;
        let status = response.status().as_u16();
        Ok((status, Box::new(response.into_body().into_reader())))
    }
}

pub fn decode<T: DeserializeOwned>(reply: &Reply) -> Result<T> {
    if !(200..300).contains(&reply.status) {
        return Err(error_from(reply));
    }
    serde_json::from_str(&reply.body).with_context(|| {
        format!(
            "the registry answered with an unexpected body: {}",
            reply.body.chars().take(200).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_slashes() {
        assert_eq!(join("http://h:1", "/readyz"), "http://h:1/readyz");
        assert_eq!(join("http://h:1/", "/readyz"), "http://h:1/readyz");
        assert_eq!(join("http://h:1/", "readyz"), "http://h:1/readyz");
    }

    #[test]
    fn error_replies_carry_detail_and_a_hint() {
        let problem =
            outpost_core::Problem::new(outpost_core::ProblemKind::Conflict, "version 1.0.0 exists");
        let err = error_from(&Reply {
            status: 409,
            body: problem.to_json(),
        })
        .to_string();
        assert!(
            err.contains("version 1.0.0 exists") && err.contains("hint: the request conflicts"),
            "{err}"
        );
        let err = error_from(&Reply {
            status: 502,
            body: "<html>bad gateway".into(),
        })
        .to_string();
        assert!(err.contains("HTTP 502") && err.contains("retry"), "{err}");
    }
}
