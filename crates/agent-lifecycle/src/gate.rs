//! A gate tasks wait at until it opens.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A gate that tasks wait at until it opens, woken in the order they came, as a JavaScript
/// promise runs its continuations in the order they were registered.
///
/// `tokio::sync::watch` is not such a gate: it spreads its waiters over eight notifiers
/// picked by a thread-local random number, so which waiter runs first differs from thread to
/// thread, and a simulation run on it does not replay from its seed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let gate = std::sync::Arc::new(agent_lifecycle::Gate::closed());
/// let waiter = tokio::spawn({
///     let gate = gate.clone();
///     async move { gate.wait().await }
/// });
/// gate.open();
/// waiter.await.unwrap();
/// assert!(gate.is_open());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct Gate {
    open: AtomicBool,
    opened: Notify,
}

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Self::default()
    }

    /// An open gate.
    pub fn opened() -> Self {
        let gate = Self::default();
        gate.open();
        gate
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Opens it: every waiter goes on, first come first.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    /// Closes it again: waiters from now on wait for the next [`Gate::open`].
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Waits until it is open.
    pub async fn wait(&self) {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            // Registered before the check, so an open between the two is not missed.
            opened.as_mut().enable();
            if self.is_open() {
                return;
            }
            opened.await;
        }
    }
}
