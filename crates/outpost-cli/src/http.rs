//! The one place the CLI talks HTTP: a shared agent, and problem+json bodies
//! turned into readable errors.

use std::time::Duration;

use anyhow::{Context, Result};
use outpost_core::Problem;

/// A response as the commands need it: status and body text.
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
        .timeout_global(Some(Duration::from_secs(30)))
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

pub fn get(base: &str, path: &str) -> Result<Reply> {
    let url = join(base, path);
    let mut response = agent().get(&url).call().with_context(|| {
        format!(
            "could not reach {url}. Is the registry running (scripts/dev.sh starts one locally) \
             and is --url / OUTPOST_URL right?"
        )
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the response from {url}"))?;
    Ok(Reply { status, body })
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_normalises_slashes() {
        assert_eq!(join("http://h:1", "/readyz"), "http://h:1/readyz");
        assert_eq!(join("http://h:1/", "/readyz"), "http://h:1/readyz");
        assert_eq!(join("http://h:1/", "readyz"), "http://h:1/readyz");
    }
}
