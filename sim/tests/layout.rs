//! The house keeps its shape: no source file over 400 lines, and the modules of the harness
//! import each other in layers (no circle), as docs/architecture.md's module map draws them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;

/// The files under `dir` whose name ends with one of `endings`, past build output and
/// version control.
fn files_ending(dir: &Path, endings: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "node_modules" | "corpus" | "artifacts"
            ) {
                files_ending(&path, endings, out);
            }
        } else if endings.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_ending(dir, &[".rs"], out);
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn no_source_file_is_over_400_lines() {
    let mut files = Vec::new();
    for dir in [
        "sim/src",
        "crates/agent-lifecycle/src",
        "crates/lifecycle-models/src",
        "examples/custom-manager/src",
        "crates/head-to-head/src",
        "crates/head-to-head/benches",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 30, "found only {files:?}");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

/// The top-level modules of `sim/src` each one names (`crate::x`) outside comments and
/// test modules.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("sim/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let used = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `crate::{a, b}` and root re-exports name no module of their own.
                if !name.is_empty() && name != module && name.chars().all(|c| !c.is_uppercase()) {
                    used.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn the_harness_modules_import_each_other_in_layers() {
    let graph = imports();
    for module in [
        "world", "check", "coverage", "scenario", "run", "subject", "explore", "report", "cli",
    ] {
        assert!(graph.contains_key(module), "no module {module}: {graph:?}");
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import circle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
    // The layers docs/architecture.md draws: the checker never reaches up into the driver, and the
    // world never into the checker.
    assert!(!graph["world"].contains("check"), "{graph:?}");
    assert!(!graph["check"].contains("run"), "{graph:?}");
    assert!(!graph["scenario"].contains("world"), "{graph:?}");
}

/// Code that runs inside a simulation draws no randomness of its own: tokio's `watch` wakes
/// its waiters in an order picked by a thread-local random number, and an unbiased `select!`
/// polls its branches in such an order, so a run on either would not replay from its seed (a
/// `watch` gate in a model made one scenario differ between two threads). `agent_lifecycle::Gate`
/// and `select! { biased; ... }` are the deterministic forms.
#[test]
fn simulated_code_draws_no_randomness_of_its_own() {
    let mut files = Vec::new();
    for dir in [
        "sim/src",
        "crates/agent-lifecycle/src",
        "crates/lifecycle-models/src",
        "crates/control-server/src",
        "crates/real-bugs/src",
        "examples/custom-manager/src",
    ] {
        let dir = root().join(dir);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
    }
    // The control server's binary runs on a real runtime, never in a simulation.
    files.retain(|f| !f.ends_with("crates/control-server/src/main.rs"));
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for (i, line) in code.iter().enumerate() {
            if line.contains("sync::watch") || line.contains("watch::Sender") {
                found.push(format!("{}: tokio's watch", file.display()));
            }
            if line.contains("select!") {
                let next = code.get(i + 1).copied().unwrap_or("");
                if !line.contains("biased") && !next.contains("biased") {
                    found.push(format!("{}: select! without `biased;`", file.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "randomness of its own: {found:#?}");
}

/// The project's docs stand on their own: no file names the reading notes kept outside the
/// repository (docs/real-system.md says how citations read instead). The names are split here
/// so that this file does not match itself.
#[test]
fn no_file_points_outside_the_repository_for_its_truth() {
    let needles = [
        ["../", "shared"].concat(),
        ["seed-", "system.md"].concat(),
        ["kilo-", "serve.md"].concat(),
        ["kilo-serve-", "recipe"].concat(),
    ];
    let mut files = Vec::new();
    let text_files = [".rs", ".md", ".json", ".mjs", ".toml", ".yml", ".sh", "run"];
    files_ending(&root(), &text_files, &mut files);
    assert!(files.len() > 100, "found only {} files", files.len());
    let hits: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let n = needles.iter().find(|n| text.contains(n.as_str()))?;
            Some(format!("{} names {n}", f.display()))
        })
        .collect();
    assert!(hits.is_empty(), "{hits:#?}");
}
