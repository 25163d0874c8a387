//! kilo-contract: what the real `kilo serve` answers, measured case by case.
//!
//! The harness's fake session backend claims to behave like the real session server that the
//! gastown manager drives (`kilo serve` through `@kilocode/sdk`). This crate is where that claim
//! is checked against the real thing: it runs the real `kilo serve` binaries (7.7.9 and 7.0.33)
//! on 127.0.0.1, offline, against a mock OpenAI-compatible provider written here whose every turn
//! a case scripts (stream, fail, hang, cut), and records, per case and version, the normalized
//! answer: HTTP status class, body shape, error name, and the events `GET /event` published.
//! A second test runs the SDK (`@kilocode/sdk` 7.2.14, `sdk/record.mjs` under node) against the
//! same servers and records whether each call returned `{data}`, returned `{error}`, or threw.
//!
//! A third (`tests/spawn_and_close.rs`, `sdk/spawn.mjs`) runs the SDK's own `createKilo` and
//! `server.close()` with `kilo` on PATH being the `@kilocode/cli` 7.0.33 Node launcher (as in the
//! gastown image) or the native binary, and records which processes start, which die on close,
//! and whether the port still answers.
//!
//! The records (`recorded/kilo-<version>.json`, `recorded/sdk-7.2.14-on-kilo-<version>.json`,
//! `recorded/sdk-7.2.14-spawn-on-kilo-<version>.json`) are the ground truth for the fake; the
//! tests compare every fresh run with them.
//!
//! # Modules
//! * [`install`]: where the binaries, the SDK and node are; a reason to skip when missing.
//! * [`mock_provider`]: the scripted LLM provider.
//! * [`server`]: [`server::KiloServe`], one `kilo serve` process that dies with its test.
//! * [`http`]: a raw HTTP client of the kilo routes and an `/event` reader.
//! * [`observed`]: the normalized description of an answer and of an event sequence.
//! * [`record`]: the record files, written or compared.
//!
//! # Running
//! ```sh
//! cargo test -p kilo-contract                          # compare with the committed records
//! LIFECYCLE_SIM_RECORD=1 cargo test -p kilo-contract   # measure again and rewrite them
//! ```
//! A run takes about two minutes (several server starts of 4–23 s each; the cases that
//! need the provider's retry loop or the event heartbeat wait seconds by design).
//!
//! # Environment
//! * `LIFECYCLE_SIM_CACHE`: the cache root (default `$HOME/.cache/lifecycle-sim`), holding
//!   `kilo-7.7.9/`, `kilo-7.0.33/` (with the `@kilocode/cli` launcher) and `sdk-7.2.14/` npm
//!   installs (`.ci/install-kilo` makes them).
//! * `KILO_BIN_7_7`, `KILO_BIN_7_0`: the native `kilo` binaries, overriding the cache.
//! * `KILO_LAUNCHER_7_0`: the `@kilocode/cli` 7.0.33 `bin/kilo` launcher, overriding the cache.
//! * `KILO_SDK_DIR`: the `@kilocode/sdk` package (or a directory whose `node_modules` holds it).
//! * `LIFECYCLE_SIM_REQUIRE_KILO=1`: a missing binary, SDK or node fails the tests instead of
//!   skipping them (`skipped: <reason>`).
//! * `LIFECYCLE_SIM_RECORD=1`: write the record files instead of comparing.
//!
//! Only 127.0.0.1 is contacted by this crate. Every process it starts runs in its own process
//! group and is SIGKILLed on drop, panics included; the spawn test's servers, which the launcher
//! orphans, are found and killed by a marker variable in their environment.

pub mod http;
pub mod install;
pub mod mock_provider;
pub mod observed;
pub mod record;
pub mod server;
