//! The prompt cache of a loaded model: one slot per parallel request, each holding the tokens of
//! the last sequence it ran (prompt and answer). A new request takes the free slot sharing the
//! longest prefix with its prompt (`InputCache.findLongestCacheSlot` in Ollama's
//! `runner/ollamarunner/cache.go`) and only the rest of the prompt is evaluated; at least one
//! token always is ("Leave one input to sample", `LoadCacheSlot`).

use std::time::Instant;

/// One slot: its tokens, whether a request is using it, and when it was last taken.
#[derive(Clone, Debug)]
struct Slot {
    tokens: Vec<i64>,
    in_use: bool,
    last_used: Instant,
}

/// The slots of one loaded model.
#[derive(Clone, Debug)]
pub(crate) struct PromptCache {
    slots: Vec<Slot>,
}

impl PromptCache {
    /// `slots` empty slots (at least one).
    pub(crate) fn new(slots: u32) -> PromptCache {
        let now = Instant::now();
        PromptCache {
            slots: (0..slots.max(1))
                .map(|_| Slot {
                    tokens: Vec::new(),
                    in_use: false,
                    last_used: now,
                })
                .collect(),
        }
    }

    /// Takes the free slot with the longest common prefix (the least recently used on a tie) and
    /// returns it with the number of leading tokens of `prompt` it already holds, at most
    /// `prompt.len() - 1`. `None` when every slot is in use.
    pub(crate) fn take(&mut self, prompt: &[i64]) -> Option<(usize, usize)> {
        let (index, common) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| !slot.in_use)
            .map(|(i, slot)| (i, common_prefix(&slot.tokens, prompt), slot.last_used))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .map(|(i, common, _)| (i, common))?;
        let slot = &mut self.slots[index];
        slot.in_use = true;
        slot.last_used = Instant::now();
        Some((index, common.min(prompt.len().saturating_sub(1))))
    }

    /// Gives a slot back holding `tokens`, the sequence it ran.
    pub(crate) fn put(&mut self, index: usize, tokens: Vec<i64>) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.tokens = tokens;
            slot.in_use = false;
        }
    }
}

fn common_prefix(a: &[i64], b: &[i64]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_longest_prefix_and_leaves_one_token() {
        let mut cache = PromptCache::new(2);
        let (slot, cached) = cache.take(&[1, 2, 3]).expect("free slot");
        assert_eq!(cached, 0);
        cache.put(slot, vec![1, 2, 3, 4]);
        assert_eq!(cache.take(&[1, 2, 3, 4, 5]), Some((slot, 4)));
        let (other, cached) = cache.take(&[1, 2]).expect("second slot");
        assert_ne!(other, slot);
        assert_eq!(cached, 0, "the matching slot is in use");
        assert_eq!(cache.take(&[9]), None, "both slots in use");
        cache.put(slot, vec![7, 8]);
        assert_eq!(
            cache.take(&[7, 8]),
            Some((slot, 1)),
            "one token is evaluated"
        );
    }
}
