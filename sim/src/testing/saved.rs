//! Where a failing assertion saves its case, and the line that replays it.

use std::path::{Path, PathBuf};

use crate::scenario::case::Case;
use crate::subject::{Model, Subject};

/// The directory a failing [`Verdict`](super::Verdict) assertion saves its case in:
///
/// 1. `$LIFECYCLE_SIM_FAILURES`, if set;
/// 2. else `lifecycle-sim/failures` in the cargo target directory the running test binary
///    was built in (found from the binary's own path: the nearest directory above it holding
///    cargo's `CACHEDIR.TAG`; so `CARGO_TARGET_DIR`, `build.target-dir` and workspaces all
///    work);
/// 3. else `lifecycle-sim/failures` in `$CARGO_TARGET_DIR`, when it is an absolute path;
/// 4. else `lifecycle-sim/failures` in the system's temporary directory.
pub fn failures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LIFECYCLE_SIM_FAILURES") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().ok();
    let built_in = exe.as_deref().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    let target = built_in.or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("lifecycle-sim")
        .join("failures")
}

/// Saves `case` under [`failures_dir`], named after the running test (its thread's name) and
/// the subject, so that the same test failing again overwrites its own file; the file's path.
pub(super) fn save(subject: &str, case: &Case) -> Result<PathBuf, String> {
    let dir = failures_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("check")
        .replace("::", ".");
    let name: String = format!("{test}-{subject}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{name}.json"));
    case.save(&path)?;
    Ok(path)
}

/// How to replay the case saved at `path` on `subject`, as one line: the CLI for a built-in
/// model, the library call for a subject of one's own (which the harness's own binary does
/// not know).
pub(super) fn replay_line(subject: &dyn Subject, path: &Path) -> String {
    let name = subject.name();
    if Model::ALL.iter().any(|m| m.name() == name) {
        format!(
            "replay: cargo run --release -p lifecycle-sim -- replay --model {name} --decisions {}",
            path.display()
        )
    } else {
        format!(
            "replay: lifecycle_sim::replay(&subject, &lifecycle_sim::Case::load({:?}.as_ref()).unwrap()), or `replay --model {name} --decisions {}` on a CLI built with lifecycle_sim::cli::main_with",
            path.display().to_string(),
            path.display()
        )
    }
}
