//! Calls whose outcome the manager cannot know yet. A backend call that fails or times out may
//! still take effect at the server (its reply was lost, or it lands after the caller gave up),
//! until its request lifetime runs out ([`ManagerConfig::request_lifetime`]). The manager
//! asks every call through here, so it knows until when what it did is still unsettled, and a
//! listing made after that instant tells the truth.
//!
//! [`ManagerConfig::request_lifetime`]: crate::ManagerConfig::request_lifetime

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::BackendError;
use crate::lifecycle::bounded;

pub(crate) struct Ambiguity {
    timeout: Duration,
    lifetime: Duration,
    /// The latest instant until which a call that failed may still land.
    until: Mutex<Option<Instant>>,
}

/// Whether a failed call may still have taken effect: anything but "it is not there".
pub(crate) fn ambiguous(e: &BackendError) -> bool {
    !matches!(e, BackendError::Gone(_))
}

impl Ambiguity {
    pub(crate) fn new(timeout: Duration, lifetime: Duration) -> Self {
        Self {
            timeout,
            lifetime,
            until: Mutex::new(None),
        }
    }

    /// Makes a call under the call timeout. If it fails ambiguously, returns also the instant
    /// after which it can no longer land.
    pub(crate) async fn ask<T>(
        &self,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, (BackendError, Instant)> {
        let sent = Instant::now();
        bounded(self.timeout, call).await.map_err(|e| {
            let settles = sent + self.lifetime;
            if ambiguous(&e) {
                let mut until = self.until.lock().expect("ambiguity poisoned");
                *until = Some(until.map_or(settles, |u| u.max(settles)));
            }
            (e, settles)
        })
    }

    /// Waits until no call made so far can still land.
    pub(crate) async fn settled(&self) {
        loop {
            let until = *self.until.lock().expect("ambiguity poisoned");
            match until {
                Some(at) if at > Instant::now() => {
                    crate::point!("ambiguity.waited_to_settle");
                    tokio::time::sleep_until(at).await;
                }
                _ => return,
            }
        }
    }
}
