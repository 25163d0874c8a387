//! Coverage: what a campaign reached, besides what it violated. Points declared in a
//! manager's code ([`agent_lifecycle::point!`], heard by `collect.rs`), points of the world the
//! harness observes itself ([`world`]), each subject's [`Catalog`] of what must be reached, and
//! a campaign's [`Tally`].

pub(crate) mod catalog;
pub(crate) mod collect;
pub(crate) mod tally;
pub mod world;

pub use catalog::{Catalog, Need};
pub use tally::{Reach, Tally};

/// Every `point!("...")` in the Rust sources under `dir`, for a test that a subject's catalog
/// and its code agree.
pub fn points_in_sources(
    dir: &std::path::Path,
) -> std::io::Result<std::collections::BTreeSet<String>> {
    let mut found = std::collections::BTreeSet::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                for (at, _) in text.match_indices("point!(\"") {
                    let rest = &text[at + "point!(\"".len()..];
                    if let Some(end) = rest.find('"') {
                        found.insert(rest[..end].to_string());
                    }
                }
            }
        }
    }
    Ok(found)
}
