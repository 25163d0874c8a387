//! The production manager on real session servers for a test, and what runs on this machine
//! because of it: the session processes and servers under the test's root directory, found
//! under /proc by their environment markers and command lines.

use std::path::Path;
use std::time::Duration;

use agent_lifecycle::{AgentManager, Lifecycle, ManagerConfig, SessionBackend};
use session_server::{HttpBackend, HttpBackendConfig};

/// The session processes whose workdir lies under `root`: (pid, agent).
pub fn sessions_under(root: &Path) -> Vec<(u32, String)> {
    let root = root.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A process that exited between the listing and the read, or a zombie (no
        // environment), does not count.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        let var = |name: &str| {
            vars.iter()
                .find_map(|v| v.strip_prefix(&format!("{name}=")).map(String::from))
        };
        if var("LIFECYCLE_SIM_WORKDIR").is_some_and(|w| w.starts_with(&root))
            && let Some(agent) = var("LIFECYCLE_SIM_AGENT")
        {
            found.push((pid, agent));
        }
    }
    found.sort();
    found
}

/// The server processes started for workdirs under `root`.
pub fn servers_under(root: &Path) -> usize {
    let root = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let text = String::from_utf8_lossy(cmdline);
            text.contains("serve") && text.contains(&root)
        })
        .count()
}

/// The agents the manager tracks a session for, sorted.
pub fn tracked<B: SessionBackend>(manager: &AgentManager<B>) -> Vec<String> {
    let mut agents: Vec<String> = manager
        .snapshot()
        .agents
        .iter()
        .filter(|r| !r.status.is_terminal() && r.session.is_some())
        .map(|r| r.agent.to_string())
        .collect();
    agents.sort();
    agents
}

/// After `step`: the session processes under `root` are those of the agents the manager
/// tracks. A killed process may take a moment to leave /proc, so this waits, bounded.
pub async fn no_leak_after<B: SessionBackend>(step: &str, manager: &AgentManager<B>, root: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut running: Vec<String> = sessions_under(root).into_iter().map(|(_, a)| a).collect();
        running.sort();
        if running == tracked(manager) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {step}: processes of {running:?}, but the manager tracks {:?}",
            tracked(manager)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After an eviction: no session process and, once they had a moment to exit, no server.
pub async fn nothing_left_under(root: &Path) {
    assert_eq!(sessions_under(root), []);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while servers_under(root) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a session server outlived the eviction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The production manager on real session servers whose workdirs are made under `root`; the
/// default agent works `work_ms` on each prompt.
pub fn manager_on_real_sessions(root: &Path, work_ms: u64) -> AgentManager<HttpBackend> {
    let backend = HttpBackend::new(HttpBackendConfig {
        binary: env!("CARGO_BIN_EXE_session-server").into(),
        work_ms,
        call_timeout: Duration::from_secs(5),
        root: root.to_path_buf(),
    });
    AgentManager::new(
        backend,
        ManagerConfig {
            call_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            retry_pause: Duration::from_millis(50),
            request_lifetime: Duration::from_secs(6),
        },
    )
}
