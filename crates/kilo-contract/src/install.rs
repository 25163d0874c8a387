//! Where the real binaries are.
//!
//! The kilo binaries and the SDK are not part of the tree (160 MB each, from npm): they live in a
//! cache outside it, or wherever the environment says. A missing binary is not an error of this
//! crate, it is a reason to skip, so every lookup answers `Err(one-line reason)` instead of
//! panicking, and [`skip_or_fail`] turns that reason into a skip or, under
//! `LIFECYCLE_SIM_REQUIRE_KILO=1`, a failure.

use std::path::{Path, PathBuf};

/// A `kilo serve` version this crate measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KiloVersion {
    /// 7.7.9: the Effect runner era, proper 404/500 answers.
    V7_7_9,
    /// 7.0.33: the classic prompt loop on `Bun.serve`.
    V7_0_33,
}

impl KiloVersion {
    /// Both versions, newest first.
    pub const ALL: [KiloVersion; 2] = [KiloVersion::V7_7_9, KiloVersion::V7_0_33];

    /// The version as npm spells it, also the record file's name part.
    pub fn label(self) -> &'static str {
        match self {
            KiloVersion::V7_7_9 => "7.7.9",
            KiloVersion::V7_0_33 => "7.0.33",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            KiloVersion::V7_7_9 => "KILO_BIN_7_7",
            KiloVersion::V7_0_33 => "KILO_BIN_7_0",
        }
    }
}

/// The SDK version `sdk/record.mjs` is written for.
pub const SDK_VERSION: &str = "7.2.14";

/// `$LIFECYCLE_SIM_CACHE`, else `$HOME/.cache/lifecycle-sim`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LIFECYCLE_SIM_CACHE") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/lifecycle-sim"))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The native `kilo` binary of `version`: `KILO_BIN_7_7` / `KILO_BIN_7_0`, else the cache.
pub fn kilo_bin(version: KiloVersion) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(version.env_var()) {
        let path = PathBuf::from(path);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{}={} is not an executable file",
                version.env_var(),
                path.display()
            ))
        };
    }
    let root = cache_root().ok_or("neither LIFECYCLE_SIM_CACHE nor HOME is set")?;
    let path = root.join(format!(
        "kilo-{}/node_modules/@kilocode/cli-linux-x64/bin/kilo",
        version.label()
    ));
    if executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "kilo {} not installed: no {} and {} unset",
            version.label(),
            path.display(),
            version.env_var()
        ))
    }
}

/// The kilo version whose `@kilocode/cli` Node launcher ([`kilo_launcher`]) this crate runs: the
/// kind of launcher the gastown image puts on PATH (`bin/kilo`, `spawnSync` of the native
/// binary, no signal forwarding). The registry has no `@kilocode/cli@7.7.9`, and the 7.7.x
/// launchers forward SIGTERM to the native binary, so 7.7.9 is measured with its native binary
/// only.
pub const LAUNCHER_VERSION: KiloVersion = KiloVersion::V7_0_33;

/// The native binaries the launcher looks for, in its order on linux x64 with AVX2 (it walks up
/// from its own real path, looking in each `node_modules`).
const LAUNCHER_TARGETS: [&str; 4] = [
    "@kilocode/cli-linux-x64",
    "@kilocode/cli-linux-x64-baseline",
    "@kilocode/cli-linux-x64-musl",
    "@kilocode/cli-linux-x64-baseline-musl",
];

/// The `@kilocode/cli` [`LAUNCHER_VERSION`] Node launcher (`bin/kilo`): `KILO_LAUNCHER_7_0`, else
/// the cache (`kilo-7.0.33/node_modules/@kilocode/cli/bin/kilo`). It must be that version (its
/// `package.json`) and find a native binary the way it will when run (through a symlink too: it
/// resolves its own real path first); it honours `KILO_BIN_PATH`, which callers must not set.
pub fn kilo_launcher() -> Result<PathBuf, String> {
    let version = LAUNCHER_VERSION.label();
    let (path, from) = match std::env::var_os("KILO_LAUNCHER_7_0") {
        Some(path) => (PathBuf::from(path), "KILO_LAUNCHER_7_0="),
        None => (
            cache_root()
                .ok_or("neither LIFECYCLE_SIM_CACHE nor HOME is set")?
                .join(format!(
                    "kilo-{version}/node_modules/@kilocode/cli/bin/kilo"
                )),
            "",
        ),
    };
    if !executable(&path) {
        return Err(format!(
            "@kilocode/cli {version} launcher not installed: {from}{} is not an executable file",
            path.display()
        ));
    }
    let real = path
        .canonicalize()
        .map_err(|e| format!("{from}{}: {e}", path.display()))?;
    // bin/kilo -> the package's package.json: it must be @kilocode/cli at that version.
    let package = real
        .parent()
        .and_then(Path::parent)
        .and_then(|dir| std::fs::read_to_string(dir.join("package.json")).ok())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let name_version = package.map(|json| (json["name"].clone(), json["version"].clone()));
    if name_version
        != Some((
            serde_json::Value::from("@kilocode/cli"),
            serde_json::Value::from(version),
        ))
    {
        return Err(format!(
            "{from}{} is not the @kilocode/cli {version} launcher (its package: {name_version:?})",
            path.display()
        ));
    }
    let native = real.ancestors().skip(1).find_map(|dir| {
        LAUNCHER_TARGETS
            .iter()
            .map(|target| dir.join("node_modules").join(target).join("bin/kilo"))
            .find(|candidate| executable(candidate))
    });
    match native {
        Some(_) => Ok(path),
        None => Err(format!(
            "the launcher {from}{} finds no native @kilocode/cli-linux-x64 binary above it",
            path.display()
        )),
    }
}

/// The `@kilocode/sdk` package directory (the one holding `package.json` and `dist/`):
/// `KILO_SDK_DIR` (the package itself, or a directory whose `node_modules` holds it), else the
/// cache.
pub fn sdk_dir() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KILO_SDK_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            vec![dir.clone(), dir.join("node_modules/@kilocode/sdk")]
        }
        None => {
            let root = cache_root().ok_or("neither LIFECYCLE_SIM_CACHE nor HOME is set")?;
            vec![root.join(format!("sdk-{SDK_VERSION}/node_modules/@kilocode/sdk"))]
        }
    };
    candidates
        .iter()
        .find(|dir| dir.join("dist/client.js").is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "@kilocode/sdk {SDK_VERSION} not installed: no dist/client.js under {}",
                candidates[0].display()
            )
        })
}

/// `node` from `PATH`.
pub fn node() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").ok_or("PATH is not set")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| executable(p))
        .ok_or_else(|| "node not found on PATH".to_string())
}

/// Whether `LIFECYCLE_SIM_REQUIRE_KILO=1`: a missing binary is then a failure, not a skip.
pub fn required() -> bool {
    std::env::var("LIFECYCLE_SIM_REQUIRE_KILO").as_deref() == Ok("1")
}

/// Prints `skipped: <reason>` (the test then returns and passes), or panics with the reason when
/// `LIFECYCLE_SIM_REQUIRE_KILO=1`.
pub fn skip_or_fail(reason: &str) {
    if required() {
        panic!("LIFECYCLE_SIM_REQUIRE_KILO=1 and {reason}");
    }
    println!("skipped: {reason}");
}
