//! What runs on this machine for a test: the session processes and servers under a test's
//! root directory, found under /proc by their environment markers and command lines.

use std::path::Path;

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
