//! A size-bounded, least-recently-used cache of loaded models keyed by
//! artifact digest. Loading and optimising is the expensive part of serving a
//! prediction; a Worker isolate keeps what it loaded, within a memory budget,
//! so that the next request for the same digest only runs.
//!
//! The weight of an entry is what the caller says it is (the Worker uses the
//! artifact's size, which bounds the weights tract keeps); an entry heavier
//! than the whole budget is not kept at all.

/// Entries in use order: the most recently used last.
#[derive(Debug)]
pub struct ModelCache<T> {
    budget: u64,
    used: u64,
    entries: Vec<(String, T, u64)>,
}

impl<T: Clone> ModelCache<T> {
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            used: 0,
            entries: Vec::new(),
        }
    }

    /// The entry for `digest`, now the most recently used.
    pub fn get(&mut self, digest: &str) -> Option<T> {
        let at = self.entries.iter().position(|(d, _, _)| d == digest)?;
        let entry = self.entries.remove(at);
        let value = entry.1.clone();
        self.entries.push(entry);
        Some(value)
    }

    /// Keeps `value`, evicting the least recently used entries until it fits.
    /// Returns the digests evicted.
    pub fn insert(&mut self, digest: &str, value: T, weight: u64) -> Vec<String> {
        let mut evicted = Vec::new();
        if let Some(at) = self.entries.iter().position(|(d, _, _)| d == digest) {
            let (_, _, old) = self.entries.remove(at);
            self.used -= old;
        }
        if weight > self.budget {
            return evicted;
        }
        while self.used + weight > self.budget && !self.entries.is_empty() {
            let (d, _, w) = self.entries.remove(0);
            self.used -= w;
            evicted.push(d);
        }
        self.used += weight;
        self.entries.push((digest.to_owned(), value, weight));
        evicted
    }

    /// Total weight held.
    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_budget() {
        let mut cache = ModelCache::new(10);
        assert!(cache.insert("a", 1, 4).is_empty());
        assert!(cache.insert("b", 2, 4).is_empty());
        assert_eq!(cache.get("a"), Some(1)); // a is now the most recent
        assert_eq!(cache.insert("c", 3, 4), vec!["b".to_owned()]);
        assert_eq!(cache.get("b"), None);
        assert_eq!((cache.get("a"), cache.get("c")), (Some(1), Some(3)));
        assert_eq!(cache.used(), 8);
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept() {
        let mut cache = ModelCache::new(10);
        cache.insert("a", 1, 4);
        assert!(cache.insert("huge", 2, 11).is_empty());
        assert_eq!(cache.get("huge"), None);
        assert_eq!(cache.get("a"), Some(1));
    }

    #[test]
    fn reinserting_replaces_and_reweighs() {
        let mut cache = ModelCache::new(10);
        cache.insert("a", 1, 8);
        cache.insert("a", 2, 3);
        assert_eq!((cache.get("a"), cache.used(), cache.len()), (Some(2), 3, 1));
    }
}
