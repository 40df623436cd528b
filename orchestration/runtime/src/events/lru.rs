//! A map that keeps at most a given number of entries, dropping the least
//! recently used one when full (the role of the `golang/groupcache` LRU
//! that `events_cache.go` uses).

use std::collections::{BTreeMap, HashMap};

/// A bounded least-recently-used map from `String` keys.
#[derive(Debug, Clone)]
pub struct Lru<V> {
    entries: HashMap<String, (u64, V)>,
    by_use: BTreeMap<u64, String>,
    next_use: u64,
    capacity: usize,
}

impl<V> Lru<V> {
    /// An empty map that holds at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            next_use: 0,
            capacity: capacity.max(1),
        }
    }

    /// The value under `key`, marked as just used.
    pub fn get(&mut self, key: &str) -> Option<&V> {
        let (use_, _) = self.entries.get(key)?;
        let old = *use_;
        let fresh = self.touch();
        self.by_use.remove(&old);
        self.by_use.insert(fresh, key.to_owned());
        let entry = self.entries.get_mut(key).expect("found above");
        entry.0 = fresh;
        Some(&entry.1)
    }

    /// Sets `key` to `value`, dropping the least recently used entry if
    /// the map is full.
    pub fn insert(&mut self, key: String, value: V) {
        let fresh = self.touch();
        if let Some((old, _)) = self.entries.remove(&key) {
            self.by_use.remove(&old);
        } else if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.by_use.insert(fresh, key.clone());
        self.entries.insert(key, (fresh, value));
        debug_assert_eq!(self.entries.len(), self.by_use.len());
    }

    /// How many entries the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn touch(&mut self) -> u64 {
        self.next_use += 1;
        self.next_use
    }
}
