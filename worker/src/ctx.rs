//! What a handler works with: the environment, the database, the clock and,
//! on organisation routes, the authenticated caller.

use outpost_core::auth::Role;
use worker::Env;

use crate::error::{ApiError, ApiResult};

pub const D1_BINDING: &str = "DB";
pub const R2_BINDING: &str = "ARTIFACTS";

/// The token a request was authenticated with.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub token_name: String,
    pub org: String,
    pub role: Role,
}

pub struct Ctx {
    pub env: Env,
    pub db: crate::db::Db,
    /// ms since the epoch, read once per request.
    pub now: i64,
    pub caller: Option<Caller>,
    /// The request's execution context, for work that may finish after the
    /// response (`waitUntil`); `None` outside a fetch (the cron).
    pub background: Option<std::rc::Rc<worker::Context>>,
    /// The request's host (edge cache keys live under it); `None` outside
    /// a fetch.
    pub host: Option<String>,
    /// Whether the deployment seals artifacts at rest, as the forwarding
    /// registry Worker said (`crate::operations`): the operations Worker
    /// has no secret to tell by.
    #[cfg(feature = "operations")]
    pub seals: bool,
}

impl Ctx {
    pub fn new(env: Env) -> ApiResult<Self> {
        let db = env
            .d1(D1_BINDING)
            .map_err(|_| ApiError::internal(format!("binding {D1_BINDING} is not configured")))?;
        Ok(Self {
            env,
            db: crate::db::Db::new(db),
            now: worker::Date::now().as_millis() as i64,
            caller: None,
            background: None,
            host: None,
            #[cfg(feature = "operations")]
            seals: false,
        })
    }

    /// Runs `work` after the response has gone out, where the runtime
    /// allows it (a fetch); elsewhere `work` is dropped, and it must only
    /// be work that may be skipped (filling a cache).
    pub fn after_response(&self, work: impl std::future::Future<Output = ()> + 'static) {
        if let Some(context) = &self.background {
            context.wait_until(work);
        }
    }

    pub fn bucket(&self) -> ApiResult<worker::Bucket> {
        self.env.bucket(R2_BINDING).map_err(|err| {
            // The runtime's own words, for the log (see store::blobs::bucket).
            worker::console_error!("binding {R2_BINDING}: {err}");
            ApiError::internal(format!("binding {R2_BINDING} is not configured"))
        })
    }

    /// The caller on an organisation route (set by authentication before any
    /// handler runs).
    pub fn caller(&self) -> ApiResult<&Caller> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::internal("organisation route without a caller"))
    }

    /// The caller as the actor of a change (use cases' audit entries).
    pub fn actor(&self) -> ApiResult<outpost_registry::ports::Actor> {
        let caller = self.caller()?;
        Ok(outpost_registry::ports::Actor::Caller {
            token_id: caller.token_id.clone(),
            name: caller.token_name.clone(),
            role: caller.role,
        })
    }

    /// The organisation every query of this request is scoped to: the token's
    /// own, which authentication has checked equals the one in the path.
    pub fn org(&self) -> ApiResult<&str> {
        Ok(self.caller()?.org.as_str())
    }
}

/// Cryptographically random bytes (crypto.getRandomValues under the hood).
pub fn random_bytes(n: usize) -> ApiResult<Vec<u8>> {
    use ring::rand::SecureRandom;
    let mut out = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| ApiError::internal("no randomness available"))?;
    Ok(out)
}
