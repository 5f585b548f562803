//! The fault knobs a test flips at run time: a killed simulator (port closed, connections cut,
//! models gone), a stalled one (connections accepted, nothing answered), and a slow one.

use tokio::sync::watch;

/// What the simulator is doing wrong right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Working normally.
    Normal,
    /// Like a killed process: the listener is closed (connections are refused) and every open
    /// connection is dropped; loaded models are gone.
    Killed,
    /// Accepts connections and reads requests but answers nothing, and streams stop between
    /// tokens, until the fault is cleared.
    Stalled,
}

/// Waits while the simulator is stalled (returns at once otherwise).
pub(crate) async fn wait_while_stalled(fault: &watch::Sender<Fault>) {
    let mut watch = fault.subscribe();
    let _ = watch.wait_for(|f| *f != Fault::Stalled).await;
}
