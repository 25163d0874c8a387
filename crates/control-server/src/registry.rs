//! Where the container records the agents it runs, so that a container that died without a
//! drain takes them up again at its next boot (`docs/real-system.md`, bootHydration).
//! Written whole on every change, read once at boot.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::api::StartBody;

pub trait Registry: Send + Sync + 'static {
    /// Whether this registry keeps nothing (no hydration to wait for).
    fn is_none(&self) -> bool {
        false
    }
    fn load(&self) -> io::Result<Vec<StartBody>>;
    fn save(&self, agents: Vec<StartBody>) -> io::Result<()>;
}

/// Keeps nothing.
pub struct NoRegistry;

impl Registry for NoRegistry {
    fn is_none(&self) -> bool {
        true
    }
    fn load(&self) -> io::Result<Vec<StartBody>> {
        Ok(Vec::new())
    }
    fn save(&self, _agents: Vec<StartBody>) -> io::Result<()> {
        Ok(())
    }
}

/// A JSON file, replaced whole on every write (written beside it, then renamed over it).
pub struct FileRegistry {
    path: PathBuf,
}

impl FileRegistry {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl Registry for FileRegistry {
    fn load(&self) -> io::Result<Vec<StartBody>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn save(&self, agents: Vec<StartBody>) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(&agents).map_err(io::Error::other)?;
        let staged = self.path.with_extension("tmp");
        std::fs::write(&staged, json)?;
        std::fs::rename(staged, &self.path)
    }
}

/// Kept in memory and shared by every boot that holds it: the simulation's registry, which
/// outlives the container host it serves.
#[derive(Default)]
pub struct MemoryRegistry {
    agents: Mutex<Vec<StartBody>>,
}

impl MemoryRegistry {
    pub fn contents(&self) -> Vec<StartBody> {
        self.agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Registry for std::sync::Arc<MemoryRegistry> {
    fn load(&self) -> io::Result<Vec<StartBody>> {
        Ok(self.contents())
    }
    fn save(&self, agents: Vec<StartBody>) -> io::Result<()> {
        *self.agents.lock().unwrap_or_else(|p| p.into_inner()) = agents;
        Ok(())
    }
}
