//! The KV-cache block pool with a prefix cache, modelled on vLLM's block manager.
//!
//! Full prompt blocks are shared and identified by their chained hash; when no running sequence
//! holds one any more it stays cached (evictable, least recently released first) until its space
//! is needed. Partial prompt tails and generated tokens live in private blocks, freed on finish.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
struct CachedBlock {
    refs: u32,
    /// LRU position while `refs == 0`.
    released_at: u64,
}

#[derive(Debug)]
pub struct KvPool {
    num_blocks: usize,
    prefix_caching: bool,
    cached: HashMap<u64, CachedBlock>,
    /// Unreferenced cached blocks by release tick: first = evicted first.
    lru: BTreeMap<u64, u64>,
    private_blocks: usize,
    tick: u64,
}

impl KvPool {
    pub fn new(num_blocks: usize, prefix_caching: bool) -> Self {
        Self {
            num_blocks,
            prefix_caching,
            cached: HashMap::new(),
            lru: BTreeMap::new(),
            private_blocks: 0,
            tick: 0,
        }
    }

    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    /// Blocks held by running sequences (what `kv_cache_usage_perc` reports).
    pub fn used_blocks(&self) -> usize {
        self.cached.len() - self.lru.len() + self.private_blocks
    }

    fn free_blocks(&self) -> usize {
        self.num_blocks - self.cached.len() - self.private_blocks
    }

    /// Leading blocks of `hashes` present in the cache.
    pub fn matched_prefix(&self, hashes: &[u64]) -> usize {
        if !self.prefix_caching {
            return 0;
        }
        hashes
            .iter()
            .take_while(|h| self.cached.contains_key(h))
            .count()
    }

    /// Take the shared blocks `hashes` (cached ones are reused) and `private` fresh blocks,
    /// evicting unreferenced cached blocks as needed. False, changing nothing, when they do not fit.
    pub fn allocate(&mut self, hashes: &[u64], private: usize) -> bool {
        let shared: &[u64] = if self.prefix_caching { hashes } else { &[] };
        let private = private + (hashes.len() - shared.len());
        let new_shared = shared
            .iter()
            .filter(|h| !self.cached.contains_key(h))
            .count();
        let pinned_from_lru = shared
            .iter()
            .filter(|h| self.cached.get(h).is_some_and(|b| b.refs == 0))
            .count();
        let need = new_shared + private;
        if need > self.free_blocks() + self.lru.len() - pinned_from_lru {
            return false;
        }
        for h in shared {
            if let Some(block) = self.cached.get_mut(h) {
                if block.refs == 0 {
                    self.lru.remove(&block.released_at);
                }
                block.refs += 1;
            }
        }
        self.make_room(need);
        for h in shared {
            self.cached.entry(*h).or_insert(CachedBlock {
                refs: 1,
                released_at: 0,
            });
        }
        self.private_blocks += private;
        true
    }

    /// One more private block (a sequence's next token crossed a block boundary).
    pub fn grow(&mut self) -> bool {
        if self.free_blocks() + self.lru.len() == 0 {
            return false;
        }
        self.make_room(1);
        self.private_blocks += 1;
        true
    }

    /// Give back what `allocate` (and `grow`) took. Shared blocks stay cached; the tail of the
    /// prompt is released first so it is evicted before the prefix others may share.
    pub fn release(&mut self, hashes: &[u64], private: usize) {
        let shared: &[u64] = if self.prefix_caching { hashes } else { &[] };
        let private = private + (hashes.len() - shared.len());
        for h in shared.iter().rev() {
            if let Some(block) = self.cached.get_mut(h) {
                block.refs = block.refs.saturating_sub(1);
                if block.refs == 0 {
                    self.tick += 1;
                    block.released_at = self.tick;
                    self.lru.insert(self.tick, *h);
                }
            }
        }
        self.private_blocks = self.private_blocks.saturating_sub(private);
    }

    fn make_room(&mut self, need: usize) {
        while self.free_blocks() < need {
            match self.lru.pop_first() {
                Some((_, h)) => {
                    self.cached.remove(&h);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_prompt_blocks_stay_cached_and_match_again() {
        let mut kv = KvPool::new(10, true);
        assert!(kv.allocate(&[1, 2, 3], 1));
        assert_eq!(kv.used_blocks(), 4);
        kv.release(&[1, 2, 3], 1);
        assert_eq!(kv.used_blocks(), 0);
        assert_eq!(kv.matched_prefix(&[1, 2, 9]), 2);
        assert_eq!(kv.matched_prefix(&[9, 2, 3]), 0);
        // Shared blocks cost nothing extra when two sequences hold them.
        assert!(kv.allocate(&[1, 2, 3], 1));
        assert!(kv.allocate(&[1, 2, 3], 1));
        assert_eq!(kv.used_blocks(), 5);
    }

    #[test]
    fn eviction_frees_least_recently_released_tail_first() {
        let mut kv = KvPool::new(4, true);
        assert!(kv.allocate(&[1, 2, 3], 0));
        kv.release(&[1, 2, 3], 0);
        // Needs 2 blocks: one free plus one evicted, the tail (3).
        assert!(kv.allocate(&[], 2));
        assert_eq!(kv.matched_prefix(&[1, 2, 3]), 2);
        assert!(!kv.allocate(&[], 3));
        assert_eq!(kv.used_blocks(), 2);
    }

    #[test]
    fn refuses_without_side_effects_when_full() {
        let mut kv = KvPool::new(3, true);
        assert!(kv.allocate(&[1, 2], 1));
        assert!(!kv.grow());
        assert!(!kv.allocate(&[1, 2], 1));
        assert_eq!(kv.used_blocks(), 3);
        kv.release(&[1, 2], 1);
        assert!(kv.grow());
        assert_eq!(kv.used_blocks(), 1);
    }

    #[test]
    fn pinned_hits_are_not_counted_as_evictable() {
        let mut kv = KvPool::new(3, true);
        assert!(kv.allocate(&[1, 2], 0));
        kv.release(&[1, 2], 0);
        // Reusing 1,2 and adding 2 private blocks needs 4 > 3.
        assert!(!kv.allocate(&[1, 2], 2));
        assert!(kv.allocate(&[1, 2], 1));
        assert_eq!(kv.used_blocks(), 3);
    }

    #[test]
    fn without_prefix_caching_nothing_is_shared() {
        let mut kv = KvPool::new(10, false);
        assert!(kv.allocate(&[1, 2], 1));
        kv.release(&[1, 2], 1);
        assert_eq!(kv.matched_prefix(&[1, 2]), 0);
        assert_eq!(kv.used_blocks(), 0);
        assert!(kv.allocate(&[1, 2], 0));
        assert!(kv.allocate(&[1, 2], 0));
        assert_eq!(kv.used_blocks(), 4);
    }
}
