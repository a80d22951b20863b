//! What an isolate keeps between requests so that a device's resolve, and
//! the token check before it, read nothing from D1 on the common path
//! (DESIGN "Scale"): resolution plans (`outpost_registry::routing`) and
//! token rows, each for a stated lifetime, in bounded LRU maps (the `lru`
//! crate), so a flood of distinct keys evicts rather than grows.
//!
//! Staleness, the bounds the README states: a change committed by another
//! isolate reaches this one's answers after at most
//! [`outpost_registry::routing::PLAN_LIFETIME_MS`] (plans) or
//! [`TOKEN_LIFETIME_MS`] (a token's revocation, expiry edit or deletion);
//! a change committed through this isolate forgets the organisation's
//! entries at once ([`forget_org`]), so a caller sees their own writes.
//! Absent tokens are never kept: a token created elsewhere works at once.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;

use lru::LruCache;
use outpost_core::lifecycle::Stage;
use outpost_registry::routing::{PLAN_LIFETIME_MS, ResolutionPlan};

use crate::store::admin::TokenRow;

pub use outpost_registry::tokens::TOKEN_LIFETIME_MS;

/// Entries per map: plans are small (a rollout and a few rows), so even a
/// full map is well under a megabyte of the isolate's 128 MB.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(4_096).expect("non-zero");

type PlanKey = (String, String, Stage);

thread_local! {
    static PLANS: RefCell<LruCache<PlanKey, (i64, Rc<ResolutionPlan>)>> =
        RefCell::new(LruCache::new(CAPACITY));
    static TOKENS: RefCell<LruCache<String, (i64, Rc<TokenRow>)>> =
        RefCell::new(LruCache::new(CAPACITY));
    /// How many times this isolate has forgotten (committed a change):
    /// a read that began before a forget is not kept after it, so a
    /// revocation or move made here can never be undone by a request that
    /// was reading the old row meanwhile.
    static FORGETS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The forget count now: take it before a read, pass it to `keep_*`.
pub fn epoch() -> u64 {
    FORGETS.with(std::cell::Cell::get)
}

/// A plan drawn no more than [`PLAN_LIFETIME_MS`] before `now`.
pub fn plan(org: &str, model: &str, stage: Stage, now: i64) -> Option<Rc<ResolutionPlan>> {
    let key = (org.to_owned(), model.to_owned(), stage);
    PLANS.with(|plans| {
        let mut plans = plans.borrow_mut();
        match plans.get(&key) {
            Some((drawn, plan)) if now - *drawn <= PLAN_LIFETIME_MS => Some(plan.clone()),
            Some(_) => {
                plans.pop(&key);
                None
            }
            None => None,
        }
    })
}

/// Keeps a plan drawn at `now` by a read that began at `epoch`, unless
/// this isolate has committed a change since, or the plan is for a model
/// that does not exist (any name in a URL would otherwise take a place).
pub fn keep_plan(
    org: &str,
    model: &str,
    stage: Stage,
    plan: Rc<ResolutionPlan>,
    now: i64,
    epoch: u64,
) {
    if epoch != self::epoch() || matches!(*plan, ResolutionPlan::UnknownModel) {
        return;
    }
    PLANS.with(|plans| {
        plans
            .borrow_mut()
            .put((org.to_owned(), model.to_owned(), stage), (now, plan));
    });
}

/// A token row read no more than [`TOKEN_LIFETIME_MS`] before `now`.
pub fn token(id: &str, now: i64) -> Option<Rc<TokenRow>> {
    TOKENS.with(|tokens| {
        let mut tokens = tokens.borrow_mut();
        match tokens.get(id) {
            Some((read, row)) if now - *read <= TOKEN_LIFETIME_MS => Some(row.clone()),
            Some(_) => {
                tokens.pop(id);
                None
            }
            None => None,
        }
    })
}

/// Keeps a token row read at `now` by a read that began at `epoch`,
/// unless this isolate has committed a change since.
pub fn keep_token(row: Rc<TokenRow>, now: i64, epoch: u64) {
    if epoch != self::epoch() {
        return;
    }
    TOKENS.with(|tokens| {
        tokens.borrow_mut().put(row.id.clone(), (now, row));
    });
}

/// Forgets every plan and token row of `org`: called after this isolate
/// commits a change there (a stage move, a release, a revocation, …).
pub fn forget_org(org: &str) {
    FORGETS.with(|forgets| forgets.set(forgets.get() + 1));
    PLANS.with(|plans| {
        let mut plans = plans.borrow_mut();
        let stale: Vec<PlanKey> = plans
            .iter()
            .filter(|((kept, _, _), _)| kept == org)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            plans.pop(&key);
        }
    });
    TOKENS.with(|tokens| {
        let mut tokens = tokens.borrow_mut();
        let stale: Vec<String> = tokens
            .iter()
            .filter(|(_, (_, row))| row.org == org)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            tokens.pop(&id);
        }
    });
}

/// How many plans and token rows this isolate keeps now.
pub fn sizes() -> (usize, usize) {
    (
        PLANS.with(|plans| plans.borrow().len()),
        TOKENS.with(|tokens| tokens.borrow().len()),
    )
}
