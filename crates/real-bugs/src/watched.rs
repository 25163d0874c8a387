//! A value tasks can wait on until it satisfies a condition, woken in the order they came.
//!
//! tokio's `watch` would do, but it spreads its waiters over notifiers picked by a thread-local
//! random number, so a simulation run on it does not replay from its seed.

use std::sync::Mutex;

use tokio::sync::Notify;

/// A value and the tasks waiting on it.
#[derive(Debug, Default)]
pub struct Watched<T> {
    value: Mutex<T>,
    changed: Notify,
}

impl<T: Copy> Watched<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Self {
            value: Mutex::new(value),
            changed: Notify::new(),
        }
    }

    /// The value now.
    pub fn get(&self) -> T {
        *self.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets it, waking every waiter.
    pub fn set(&self, value: T) {
        self.modify(|v| {
            *v = value;
            true
        });
    }

    /// Changes it with `f`, waking every waiter.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        self.modify(|v| {
            f(v);
            true
        });
    }

    /// Changes it with `f`, which says whether it changed anything; waiters wake only then.
    pub fn modify(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let changed = f(&mut self.value.lock().unwrap_or_else(|p| p.into_inner()));
        if changed {
            self.changed.notify_waiters();
        }
        changed
    }

    /// Changes it with `f` and returns what `f` says, waking every waiter (who look again).
    pub fn change<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let out = f(&mut self.value.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_waiters();
        out
    }

    /// Waits until the value satisfies `holds`.
    pub async fn wait_for(&self, holds: impl Fn(&T) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change between the two is not missed.
            changed.as_mut().enable();
            if holds(&self.get()) {
                return;
            }
            changed.await;
        }
    }
}
