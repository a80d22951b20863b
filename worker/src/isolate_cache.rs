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
//!
//! No stampede at expiry: once an entry is older than [`REDRAW_AFTER_MS`],
//! the first request that asks for it reads it again from D1 while the
//! others keep answering from it until it reaches its lifetime (the bound
//! above is unchanged). Without this, every request in flight when a plan
//! or token row expired read D1 at once, and the slowest of those reads
//! set the tail latency of a busy isolate.

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

/// Age (ms) after which the first request to ask for a kept entry redraws
/// it; below both lifetimes, which stay the staleness bounds.
pub const REDRAW_AFTER_MS: i64 = 4_000;
const _: () = assert!(REDRAW_AFTER_MS < PLAN_LIFETIME_MS && REDRAW_AFTER_MS < TOKEN_LIFETIME_MS);

type PlanKey = (String, String, Stage);

/// A kept value, when it was read (ms), and whether a request is reading
/// it again.
#[derive(Debug)]
struct Kept<T> {
    read: i64,
    value: Rc<T>,
    redrawing: bool,
}

impl<T> Kept<T> {
    fn new(read: i64, value: Rc<T>) -> Self {
        Self {
            read,
            value,
            redrawing: false,
        }
    }
}

/// The kept value for `key` at `now`, or `None` when the caller must read
/// it: never kept, older than `lifetime` (forgotten), or older than
/// [`REDRAW_AFTER_MS`] with no other request reading it yet (the caller
/// becomes that request; the others keep answering from the kept value).
fn lookup<K: std::hash::Hash + Eq, T>(
    map: &mut LruCache<K, Kept<T>>,
    key: &K,
    now: i64,
    lifetime: i64,
) -> Option<Rc<T>> {
    let kept = map.get_mut(key)?;
    let age = now - kept.read;
    if age > lifetime {
        map.pop(key);
        return None;
    }
    if age > REDRAW_AFTER_MS && !kept.redrawing {
        kept.redrawing = true;
        return None;
    }
    Some(kept.value.clone())
}

thread_local! {
    static PLANS: RefCell<LruCache<PlanKey, Kept<ResolutionPlan>>> =
        RefCell::new(LruCache::new(CAPACITY));
    static TOKENS: RefCell<LruCache<String, Kept<TokenRow>>> =
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

/// A plan drawn no more than [`PLAN_LIFETIME_MS`] before `now` (see
/// [`lookup`] for when `None` asks the caller to draw it again).
pub fn plan(org: &str, model: &str, stage: Stage, now: i64) -> Option<Rc<ResolutionPlan>> {
    let key = (org.to_owned(), model.to_owned(), stage);
    PLANS.with(|plans| lookup(&mut plans.borrow_mut(), &key, now, PLAN_LIFETIME_MS))
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
        plans.borrow_mut().put(
            (org.to_owned(), model.to_owned(), stage),
            Kept::new(now, plan),
        );
    });
}

/// A token row read no more than [`TOKEN_LIFETIME_MS`] before `now` (see
/// [`lookup`] for when `None` asks the caller to read it again).
pub fn token(id: &str, now: i64) -> Option<Rc<TokenRow>> {
    TOKENS.with(|tokens| {
        lookup(
            &mut tokens.borrow_mut(),
            &id.to_owned(),
            now,
            TOKEN_LIFETIME_MS,
        )
    })
}

/// Keeps a token row read at `now` by a read that began at `epoch`,
/// unless this isolate has committed a change since.
pub fn keep_token(row: Rc<TokenRow>, now: i64, epoch: u64) {
    if epoch != self::epoch() {
        return;
    }
    TOKENS.with(|tokens| {
        tokens.borrow_mut().put(row.id.clone(), Kept::new(now, row));
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
            .filter(|(_, kept)| kept.value.org == org)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> LruCache<u32, Kept<&'static str>> {
        let mut map = LruCache::new(CAPACITY);
        map.put(1, Kept::new(1_000, Rc::new("plan")));
        map
    }

    #[test]
    fn fresh_entries_answer_everyone() {
        let mut map = map();
        for now in [1_000, 3_000, 1_000 + REDRAW_AFTER_MS] {
            assert_eq!(lookup(&mut map, &1, now, 5_000).as_deref(), Some(&"plan"));
        }
        assert_eq!(lookup(&mut map, &2, 1_000, 5_000), None);
    }

    #[test]
    fn one_request_redraws_while_the_others_answer_until_the_lifetime() {
        let mut map = map();
        let now = 1_000 + REDRAW_AFTER_MS + 1;
        assert_eq!(lookup(&mut map, &1, now, 5_000), None, "the first redraws");
        for later in [now, now + 500, 6_000] {
            assert_eq!(
                lookup(&mut map, &1, later, 5_000).as_deref(),
                Some(&"plan"),
                "the others answer from it within the lifetime"
            );
        }
        assert_eq!(
            lookup(&mut map, &1, 6_001, 5_000),
            None,
            "past the lifetime, no one"
        );
        assert!(map.peek(&1).is_none(), "and it is forgotten");
    }

    #[test]
    fn a_redrawn_entry_is_fresh_again() {
        let mut map = map();
        assert_eq!(lookup(&mut map, &1, 5_500, 5_000), None);
        map.put(1, Kept::new(5_600, Rc::new("redrawn")));
        assert_eq!(
            lookup(&mut map, &1, 5_700, 5_000).as_deref(),
            Some(&"redrawn")
        );
    }

    #[test]
    fn a_failed_redraw_leaves_the_bound_in_force() {
        // The redrawing request never keeps anything: the entry still ends
        // at its lifetime, and the next request after that reads again.
        let mut map = map();
        assert_eq!(lookup(&mut map, &1, 5_100, 5_000), None);
        assert!(lookup(&mut map, &1, 5_900, 5_000).is_some());
        assert_eq!(lookup(&mut map, &1, 6_500, 5_000), None);
    }
}
