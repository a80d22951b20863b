//! The Worker's one error type and its mapping to problem+json.
//!
//! Handlers return [`ApiError`]; only `fetch` turns it into a response. Client
//! mistakes carry a [`Problem`] with a useful detail; anything else is
//! `Internal`, logged with its cause and answered with a generic 500.

use outpost_core::{Problem, ProblemKind};

#[derive(Debug)]
pub enum ApiError {
    /// Boxed: error paths are rare, and the happy path stays small.
    Problem(Box<Problem>),
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError::Problem(Box::new(Problem::new(kind, detail)))
    }

    pub fn bad_request(detail: impl std::fmt::Display) -> Self {
        Self::new(ProblemKind::BadRequest, detail.to_string())
    }

    pub fn not_found(detail: impl std::fmt::Display) -> Self {
        Self::new(ProblemKind::NotFound, detail.to_string())
    }

    pub fn conflict(detail: impl std::fmt::Display) -> Self {
        Self::new(ProblemKind::Conflict, detail.to_string())
    }

    pub fn unprocessable(detail: impl std::fmt::Display) -> Self {
        Self::new(ProblemKind::UnprocessableContent, detail.to_string())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        ApiError::Problem(Box::new(problem))
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::Internal(format!("JSON: {err}"))
    }
}

/// The use cases' errors: domain outcomes become their problem, a storage
/// failure an internal error whose cause is logged, never sent.
impl From<outpost_registry::RegistryError> for ApiError {
    fn from(err: outpost_registry::RegistryError) -> Self {
        use outpost_registry::{RegistryError, StoreError};
        match err {
            RegistryError::Store(StoreError::Failed(cause)) => ApiError::Internal(cause),
            other => ApiError::from(other.to_problem()),
        }
    }
}

impl From<outpost_registry::StoreError> for ApiError {
    fn from(err: outpost_registry::StoreError) -> Self {
        ApiError::from(outpost_registry::RegistryError::Store(err))
    }
}
