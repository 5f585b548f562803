//! The slots of one model on one node (`max_parallel`), and the fair wait for them.
//!
//! Waiting is fair across API keys: each key (the anonymous callers share one) has its own
//! FIFO of waiters, and the keys with waiters take turns — a freed slot goes to the first waiter
//! of the key whose turn it is, and that key goes to the back of the line (round robin over
//! per-key FIFOs: deficit round robin with a quantum of one request, since a slot is one
//! request whatever its size). A key that queues 50 requests makes another key's one request
//! wait for at most one of them, not for all 50, while each key's own requests keep their order.
//!
//! A slot freed while someone waits passes straight to them (it is never free in between, so a
//! newcomer cannot overtake the line). A waiter that gives up (timeout, dropped call) leaves the
//! line; a slot handed to one that was already gone goes on to the next.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::lock;

/// The slots of one (node, model): at most `max` taken at once.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Slots taken (a slot handed to a waiter stays taken).
    used: usize,
    /// No more slots: the node was removed.
    closed: bool,
    /// The keys with waiters, in the order their turn comes; each with its own FIFO.
    turns: VecDeque<Bucket>,
    next_waiter: u64,
}

#[derive(Debug)]
struct Bucket {
    key: Option<String>,
    waiters: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    tx: oneshot::Sender<Slot>,
}

/// A slot taken: given back (to the next waiter, or free) when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Option<Arc<Slots>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.release();
        }
    }
}

/// The slots were closed (the node removed) before one came free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node's slots are closed")]
pub(crate) struct Closed;

/// A place in the line for a slot; leaves the line when dropped.
#[derive(Debug)]
pub(crate) struct Waiting {
    slots: Arc<Slots>,
    key: Option<String>,
    id: u64,
    rx: oneshot::Receiver<Slot>,
}

impl Waiting {
    /// The slot, once it is this waiter's turn; [`Closed`] when the slots close first.
    pub(crate) async fn slot(mut self) -> Result<Slot, Closed> {
        (&mut self.rx).await.map_err(|_| Closed)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut s = lock(&self.slots.state);
        if let Some(at) = s.turns.iter().position(|b| b.key == self.key) {
            let bucket = &mut s.turns[at];
            bucket.waiters.retain(|w| w.id != self.id);
            if bucket.waiters.is_empty() {
                s.turns.remove(at);
            }
        }
        // A slot already sent and not received drops with `rx`, after the lock: it goes on.
    }
}

impl Slots {
    /// `max` slots, all free.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            state: Mutex::default(),
        })
    }

    /// Slots taken now.
    pub(crate) fn used(&self) -> usize {
        lock(&self.state).used
    }

    /// A slot if one is free and nobody waits; `None` otherwise (or when closed).
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let mut s = lock(&self.state);
        if s.closed || s.used >= self.max || !s.turns.is_empty() {
            return None;
        }
        s.used += 1;
        Some(Slot {
            slots: Some(Arc::clone(self)),
        })
    }

    /// A place in `key`'s line (anonymous callers share `None`'s). A slot free at this moment
    /// with nobody waiting is taken at once (the wait ends immediately); after
    /// [`Slots::close`] the wait ends with [`Closed`].
    pub(crate) fn wait(self: &Arc<Self>, key: Option<&str>) -> Waiting {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.state);
        let id = s.next_waiter;
        s.next_waiter += 1;
        let waiting = Waiting {
            slots: Arc::clone(self),
            key: key.map(str::to_owned),
            id,
            rx,
        };
        if s.closed {
            return waiting; // `tx` dropped: the wait ends with `Closed`.
        }
        if s.used < self.max && s.turns.is_empty() {
            s.used += 1;
            let slot = Slot {
                slots: Some(Arc::clone(self)),
            };
            if let Err(mut unsent) = tx.send(slot) {
                // Cannot happen (`rx` is held here), but never count a slot nobody holds.
                unsent.slots = None;
                s.used -= 1;
            }
            return waiting;
        }
        let waiter = Waiter { id, tx };
        match s.turns.iter_mut().find(|b| b.key.as_deref() == key) {
            Some(bucket) => bucket.waiters.push_back(waiter),
            None => s.turns.push_back(Bucket {
                key: key.map(str::to_owned),
                waiters: VecDeque::from([waiter]),
            }),
        }
        waiting
    }

    /// Closes the slots (the node is removed): every waiter's wait ends with [`Closed`], and no
    /// slot is taken any more; those held run to their end.
    pub(crate) fn close(&self) {
        let mut s = lock(&self.state);
        s.closed = true;
        s.turns.clear();
    }

    /// A slot came back: to the next waiter by turn, else free.
    fn release(self: &Arc<Self>) {
        let mut s = lock(&self.state);
        loop {
            let next = if s.closed {
                None
            } else {
                s.turns.pop_front().and_then(|mut bucket| {
                    let waiter = bucket.waiters.pop_front();
                    if !bucket.waiters.is_empty() {
                        s.turns.push_back(bucket);
                    }
                    waiter
                })
            };
            let Some(waiter) = next else {
                s.used = s.used.saturating_sub(1);
                return;
            };
            let slot = Slot {
                slots: Some(Arc::clone(self)),
            };
            match waiter.tx.send(slot) {
                Ok(()) => return,
                // That waiter is gone: not its slot to give back (we hold the lock), next one.
                Err(mut unsent) => unsent.slots = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// Takes `waiting`'s slot if it has one now.
    fn ready(waiting: &mut Waiting) -> Option<Slot> {
        waiting.rx.try_recv().ok()
    }

    #[test]
    fn a_freed_slot_goes_to_the_keys_in_turn_and_each_key_in_order() {
        let slots = Slots::new(1);
        let held = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        let mut line: Vec<(&str, Waiting)> = Vec::new();
        for _ in 0..5 {
            line.push(("a", slots.wait(Some("a"))));
        }
        line.push(("b", slots.wait(Some("b"))));
        line.push(("anon", slots.wait(None)));
        let mut served = Vec::new();
        let mut holding = held;
        for round in 0..7 {
            drop(holding);
            let (at, slot) = line
                .iter_mut()
                .enumerate()
                .find_map(|(i, (_, w))| ready(w).map(|s| (i, s)))
                .unwrap_or_else(|| panic!("round {round}: nobody got the slot"));
            served.push(line.remove(at).0);
            holding = slot;
        }
        assert_eq!(served, ["a", "b", "anon", "a", "a", "a", "a"]);
        drop(holding);
        assert_eq!(slots.used(), 0);
    }

    #[test]
    fn a_waiter_that_leaves_passes_its_turn_and_close_ends_every_wait() {
        let slots = Slots::new(1);
        let held = slots.try_take().unwrap();
        let gone = slots.wait(Some("a"));
        let mut next = slots.wait(Some("b"));
        drop(gone);
        drop(held);
        let slot = ready(&mut next).expect("the slot skips the waiter that left");
        assert_eq!(slots.used(), 1);
        let late = slots.wait(None);
        slots.close();
        drop(slot);
        assert_eq!(slots.used(), 0);
        assert!(slots.try_take().is_none(), "closed");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(late.slot()).unwrap_err(), Closed);
    }

    #[test]
    fn a_slot_free_when_the_wait_starts_is_taken_at_once() {
        let slots = Slots::new(2);
        let first = slots.try_take().unwrap();
        let mut waiting = slots.wait(Some("a"));
        let second = ready(&mut waiting).expect("a free slot, nobody waiting");
        assert_eq!(slots.used(), 2);
        drop((first, second));
        assert_eq!(slots.used(), 0);
    }
}
