//! RFC 9457 problem details: the one shape every Outpost API error takes.
//!
//! The Worker renders these, the CLI and the wasm client parse them, so the type
//! lives in the core. Each [`ProblemKind`] fixes the HTTP status, a stable `type`
//! URI that clients can switch on, and a short title; the `detail` says what went
//! wrong in this occurrence and, where possible, what to do about it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Media type of a problem details body (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every Outpost problem `type`. A URN rather than a URL: it names the
/// kind of problem without promising a page that documents it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:outpost:problem:";

/// The kinds of problem the API can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnprocessableContent,
    /// 412: a precondition (`If-Match`, `If-Unmodified-Since`) failed.
    PreconditionFailed,
    /// 416: no requested range is satisfiable.
    RangeNotSatisfiable,
    /// 429: a rate limit; `retry_after` (seconds) goes with it.
    TooManyRequests,
    Internal,
    ServiceUnavailable,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 13] = [
        ProblemKind::BadRequest,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnprocessableContent,
        ProblemKind::PreconditionFailed,
        ProblemKind::RangeNotSatisfiable,
        ProblemKind::TooManyRequests,
        ProblemKind::Internal,
        ProblemKind::ServiceUnavailable,
    ];

    pub fn status(self) -> u16 {
        match self {
            ProblemKind::BadRequest => 400,
            ProblemKind::Unauthorized => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::Conflict => 409,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnprocessableContent => 422,
            ProblemKind::PreconditionFailed => 412,
            ProblemKind::RangeNotSatisfiable => 416,
            ProblemKind::TooManyRequests => 429,
            ProblemKind::Internal => 500,
            ProblemKind::ServiceUnavailable => 503,
        }
    }

    /// Stable machine-readable name, the tail of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnprocessableContent => "unprocessable-content",
            ProblemKind::PreconditionFailed => "precondition-failed",
            ProblemKind::RangeNotSatisfiable => "range-not-satisfiable",
            ProblemKind::TooManyRequests => "too-many-requests",
            ProblemKind::Internal => "internal",
            ProblemKind::ServiceUnavailable => "service-unavailable",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "Bad request",
            ProblemKind::Unauthorized => "Authentication required",
            ProblemKind::Forbidden => "Not allowed",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::UnprocessableContent => "Unprocessable content",
            ProblemKind::PreconditionFailed => "Precondition failed",
            ProblemKind::RangeNotSatisfiable => "Range not satisfiable",
            ProblemKind::TooManyRequests => "Too many requests",
            ProblemKind::Internal => "Internal error",
            ProblemKind::ServiceUnavailable => "Service unavailable",
        }
    }

    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }

    /// Recognises a problem `type` this crate produced.
    pub fn from_type_uri(uri: &str) -> Option<Self> {
        let slug = uri.strip_prefix(PROBLEM_TYPE_PREFIX)?;
        Self::ALL.into_iter().find(|kind| kind.slug() == slug)
    }
}

/// Members defined by RFC 9457 itself; extensions may not shadow them.
const RESERVED_MEMBERS: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Problem-specific members, e.g. `failed` for the checks that failed.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            problem_type: kind.type_uri(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: Some(detail.into()),
            instance: None,
            extensions: Map::new(),
        }
    }

    /// A 500 whose body says nothing about the cause: server internals go to the
    /// log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            ProblemKind::Internal,
            "The server failed to handle this request. It has been logged; retry later or report it.",
        )
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        Self::new(
            ProblemKind::NotFound,
            format!(
                "No route matches {method} {}. The API lives under /v1; see /openapi.json.",
                clip(path)
            ),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Self {
        Self::new(
            ProblemKind::MethodNotAllowed,
            format!(
                "{method} is not supported on {}; use {}.",
                clip(path),
                allowed.join(", ")
            ),
        )
        .with_extension("allowed", allowed.to_vec())
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds a problem-specific member. Reserved member names are ignored so an
    /// extension can never change what the standard members say.
    pub fn with_extension(mut self, key: &str, value: impl Serialize) -> Self {
        if RESERVED_MEMBERS.contains(&key) {
            return self;
        }
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extensions.insert(key.to_owned(), value);
        self
    }

    pub fn kind(&self) -> Option<ProblemKind> {
        ProblemKind::from_type_uri(&self.problem_type)
    }

    pub fn to_json(&self) -> String {
        // A Problem holds only strings, numbers and JSON values: serialising
        // cannot fail, but an error body must never be the thing that panics.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"about:blank","title":"Internal error","status":{}}}"#,
                self.status
            )
        })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// Paths are echoed back in details; keep hostile ones short.
fn clip(path: &str) -> String {
    const MAX: usize = 200;
    match path.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &path[..cut]),
        None => path.to_owned(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_to_the_rfc_shape() {
        let problem = Problem::new(
            ProblemKind::Conflict,
            "version 1.2.0 of fraud-detector exists",
        )
        .with_instance("/v1/orgs/acme/models/fraud-detector/versions/1.2.0")
        .with_extension("version", "1.2.0");
        let value: Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "type": "urn:outpost:problem:conflict",
                "title": "Conflict",
                "status": 409,
                "detail": "version 1.2.0 of fraud-detector exists",
                "instance": "/v1/orgs/acme/models/fraud-detector/versions/1.2.0",
                "version": "1.2.0"
            })
        );
    }

    #[test]
    fn round_trips_and_recognises_its_kind() {
        for kind in ProblemKind::ALL {
            let problem = Problem::new(kind, "x");
            let back: Problem = serde_json::from_str(&problem.to_json()).unwrap();
            assert_eq!(back, problem);
            assert_eq!(back.kind(), Some(kind));
            assert_eq!(back.status, kind.status());
        }
    }

    #[test]
    fn foreign_problems_parse_with_defaults() {
        let back: Problem = serde_json::from_str(r#"{"title":"Teapot","status":418}"#).unwrap();
        assert_eq!(back.problem_type, "about:blank");
        assert_eq!(back.kind(), None);
        assert_eq!(back.detail, None);
    }

    #[test]
    fn extensions_cannot_shadow_standard_members() {
        let problem = Problem::new(ProblemKind::NotFound, "gone")
            .with_extension("status", 200)
            .with_extension("type", "urn:evil");
        let value: Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(value["status"], 404);
        assert_eq!(value["type"], "urn:outpost:problem:not-found");
    }

    #[test]
    fn internal_errors_are_generic() {
        let problem = Problem::internal();
        assert_eq!(problem.status, 500);
        assert!(problem.detail.unwrap().contains("retry"));
    }

    #[test]
    fn route_problems_name_the_request_and_clip_it() {
        let problem = Problem::not_found_route("GET", "/nope");
        assert!(problem.detail.as_deref().unwrap().contains("GET /nope"));
        let long = format!("/{}", "a".repeat(5000));
        let clipped = Problem::not_found_route("GET", &long);
        assert!(clipped.detail.unwrap().len() < 400);
        let method = Problem::method_not_allowed("DELETE", "/healthz", &["GET"]);
        assert_eq!(method.status, 405);
        assert_eq!(method.extensions["allowed"], json!(["GET"]));
    }
}
