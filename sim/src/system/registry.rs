//! The container's registry in a system run: it outlives the container host (the real one is
//! kept by the town), and each container model writes it as its version did.

use std::io;
use std::sync::{Arc, Mutex};

use control_server::{Registry, StartBody};

use crate::decisions::Decisions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryStyle {
    /// PRE has no registry and no boot hydration (`docs/real-system.md`).
    None,
    /// POST and LATEST: `syncRegistry` is a fire-and-forget whole-list overwrite, so writes
    /// can land out of order (§2 bootHydration \[2nd\]). Each write lands 1-20 ms after it was
    /// made, drawn.
    FireAndForget,
    /// Ours: each write is whole and lands before the change it records is answered.
    Ordered,
}

#[derive(Clone)]
pub struct SimRegistry(Arc<Mutex<Writes>>);

struct Writes {
    style: RegistryStyle,
    stored: Vec<StartBody>,
    /// Writes on their way: when each lands, and what it holds.
    pending: Vec<(u64, Vec<StartBody>)>,
    decisions: Decisions,
}

impl SimRegistry {
    pub fn new(style: RegistryStyle, seed: u64) -> Self {
        Self(Arc::new(Mutex::new(Writes {
            style,
            stored: Vec::new(),
            pending: Vec::new(),
            decisions: Decisions::from_seed(seed.wrapping_add(0x4e61)),
        })))
    }

    fn writes(&self) -> std::sync::MutexGuard<'_, Writes> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lands the writes due by `now_ms`, each whole over the last: one made earlier but
    /// landing later wins.
    pub fn land(&self, now_ms: u64) {
        let mut w = self.writes();
        let mut due: Vec<(u64, Vec<StartBody>)> = Vec::new();
        w.pending.retain(|(at, agents)| {
            let landing = *at <= now_ms;
            if landing {
                due.push((*at, agents.clone()));
            }
            !landing
        });
        due.sort_by_key(|(at, _)| *at);
        if let Some((_, last)) = due.pop() {
            w.stored = last;
        }
    }
}

impl Registry for SimRegistry {
    fn is_none(&self) -> bool {
        self.writes().style == RegistryStyle::None
    }

    fn load(&self) -> io::Result<Vec<StartBody>> {
        Ok(self.writes().stored.clone())
    }

    fn save(&self, agents: Vec<StartBody>) -> io::Result<()> {
        let mut w = self.writes();
        match w.style {
            RegistryStyle::None => {}
            RegistryStyle::Ordered => w.stored = agents,
            RegistryStyle::FireAndForget => {
                let now = turmoil::sim_elapsed().map_or(0, |e| e.as_millis() as u64);
                let at = now + 1 + u64::from(w.decisions.below(20));
                w.pending.push((at, agents));
            }
        }
        Ok(())
    }
}
