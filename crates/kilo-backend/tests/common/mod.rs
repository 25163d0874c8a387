//! What every test here needs: kilo 7.7.9 (or a skip), a mock provider, a backend whose
//! servers carry a marker in their environment, and a guard that kills whatever carries the
//! marker when the test ends, panics included.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kilo_backend::{KiloBackend, KiloBackendConfig};
use kilo_contract::install::{self, KiloVersion};
use kilo_contract::mock_provider::MockProvider;

/// The environment variable that marks the processes a test started: its value is the test's
/// temporary directory.
pub const MARKER: &str = "KILO_BACKEND_TEST_ROOT";

/// One test's world: a temporary directory (HOME and workdirs), the mock provider, and the
/// guard that kills every process of the test when dropped.
pub struct World {
    // Field order is drop order: processes first, then the provider, then the directory.
    pub guard: ProcessGuard,
    pub mock: MockProvider,
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
}

impl World {
    /// `None` (after printing `skipped: <reason>`) when kilo 7.7.9 is not installed; a panic
    /// instead under `LIFECYCLE_SIM_REQUIRE_KILO=1`.
    pub async fn new() -> Option<World> {
        let bin = match install::kilo_bin(KiloVersion::V7_7_9) {
            Ok(bin) => bin,
            Err(reason) => {
                install::skip_or_fail(&reason);
                return None;
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("kilo-backend-")
            .tempdir()
            .expect("temp dir");
        let mock = MockProvider::start().await.expect("mock provider");
        Some(World {
            guard: ProcessGuard {
                root: dir.path().to_path_buf(),
            },
            mock,
            dir,
            bin,
        })
    }

    /// A backend on this world's HOME and workdir root, with the recipe's offline environment
    /// and the marker.
    pub fn backend(&self) -> KiloBackend {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let mut config = KiloBackendConfig::new(self.bin.clone(), home.clone(), self.root());
        config.env = kilo_contract::server::environment(&home, self.mock.port());
        config.env.push((MARKER.into(), self.marker()));
        config.call_timeout = Duration::from_secs(30);
        KiloBackend::new(config)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn marker(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }

    /// The processes running now that carry this world's marker.
    pub fn processes(&self) -> Vec<u32> {
        marked(self.dir.path())
    }

    /// Waits (at most 5 s) until no process carries the marker; panics naming them otherwise.
    pub async fn assert_no_process_left(&self, after: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after {after}: kilo processes left: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The pids whose environment has `MARKER=<root>` (zombies have none, and do not count).
pub fn marked(root: &Path) -> Vec<u32> {
    let wanted = format!("{MARKER}={}", root.to_string_lossy());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            found.push(pid);
        }
    }
    found.sort();
    found
}

/// SIGKILLs every process carrying the marker of `root` when dropped.
pub struct ProcessGuard {
    root: PathBuf,
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        for pid in marked(&self.root) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Runs `f`, printing how long it took under `what`.
pub async fn timed<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = f.await;
    println!("{what}: {:.3}s", started.elapsed().as_secs_f64());
    out
}
