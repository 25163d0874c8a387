//! The fake backend answers as the real server does. Each case plays, on the fake backend (in
//! simulated time), the calls the historical models make through `KiloSdk`, and compares what
//! the fake answers with what SDK 7.2.14 answered against the real `kilo serve`, as recorded in
//! `recorded/sdk-7.2.14-on-kilo-*.json` by `sdk_mapping.rs`.
//!
//! The record is the expected answer; `KiloSdk`'s mapping says how an answer reaches the model
//! (`lifecycle_models::sdk`): `Ok` is `{data}`, `BackendError::Failed` is a returned `{error}`,
//! `Gone` and `Timeout` are throws. A case whose answer the models read only as "threw or
//! not" (prompt and abort: the real code goes on after any returned answer) compares that much;
//! `session.create` compares data against error too (the real code throws on a missing id).
//! This test needs no binary: it reads the committed records.

use std::path::PathBuf;
use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, SessionBackend, Workdir};
use lifecycle_models::{KiloSdk, ServerEvent};
use lifecycle_sim::FaultConfig;
use lifecycle_sim::contract::on_fake_backend;
use serde_json::Value;

/// How an SDK call ended, as the record writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sdk {
    Data,
    Error,
    Threw,
}

impl Sdk {
    fn of<T>(result: &Result<T, BackendError>) -> Self {
        match result {
            Ok(_) => Self::Data,
            Err(BackendError::Failed(_)) => Self::Error,
            Err(BackendError::Gone(_) | BackendError::Timeout) => Self::Threw,
        }
    }

    fn returned(self) -> bool {
        self != Self::Threw
    }
}

/// The recorded answers of SDK 7.2.14 on one server version.
fn record(version: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorded")
        .join(format!("sdk-7.2.14-on-kilo-{version}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the record is JSON")
}

fn recorded_kind(record: &Value, case: &str) -> Sdk {
    let entry = &record["cases"][case];
    let stable = entry.get("stable").unwrap_or(entry);
    match stable["kind"].as_str() {
        Some("data") => Sdk::Data,
        Some("error") => Sdk::Error,
        Some("threw") => Sdk::Threw,
        other => panic!("case {case}: no recorded kind ({other:?})"),
    }
}

/// What the fake answered for each recorded case, played through `KiloSdk`.
fn fake_answers(seed: u64) -> Vec<(&'static str, Sdk)> {
    on_fake_backend(seed, FaultConfig::none(), |b| async move {
        let (w0, w1) = (Workdir::new("w0"), Workdir::new("w1"));
        let agent = AgentId::new("a0");
        let mut out = Vec::new();
        let server = b.spawn_server(&w0).await.expect("spawn");
        let other = b.spawn_server(&w1).await.expect("spawn");
        let created = b.create_session(server, &agent).await;
        out.push(("create_ok", Sdk::of(&created)));
        let session = created.expect("created");
        out.push((
            "prompt_ok",
            Sdk::of(&b.prompt_on(server, session, "go").await),
        ));
        out.push((
            "abort_idle",
            Sdk::of(&b.abort_on(server, Some(session)).await),
        ));
        out.push((
            "abort_ok",
            Sdk::of(&b.abort_on(server, Some(session)).await),
        ));
        let elsewhere = b.create_session(other, &agent).await.expect("created");
        out.push((
            "abort_unknown_ses",
            Sdk::of(&b.abort_on(server, Some(elsewhere)).await),
        ));
        out.push((
            "prompt_unknown_ses",
            Sdk::of(&b.prompt_on(server, elsewhere, "go").await),
        ));
        out.push(("abort_empty_id", Sdk::of(&b.abort_on(server, None).await)));
        // A prompt in flight, aborted: the turn is cut short or had not enqueued; either
        // way the prompt answers.
        let mid = b.create_session(server, &agent).await.expect("created");
        let prompting = {
            let b = b.clone();
            tokio::task::spawn_local(async move { b.prompt_on(server, mid, "go").await })
        };
        tokio::task::yield_now().await;
        let _ = b.abort_on(server, Some(mid)).await;
        let answered = prompting.await.expect("the prompt task");
        out.push(("prompt_aborted_mid_turn", Sdk::of(&answered)));
        // The server dies with a prompt in flight, then every call to it.
        let doomed = b.create_session(other, &agent).await.expect("created");
        let mut stream = b.subscribe_server(other).await.expect("subscribed");
        let in_flight = {
            let b = b.clone();
            tokio::task::spawn_local(async move { b.prompt_on(other, doomed, "go").await })
        };
        // The prompt's request is out (its turn lasts at least a millisecond): SIGKILL now.
        tokio::task::yield_now().await;
        b.crash_server(other);
        let in_flight = in_flight.await.expect("the prompt task");
        out.push(("prompt_in_flight_on_sigkill", Sdk::of(&in_flight)));
        out.push((
            "dead_server_create",
            Sdk::of(&b.create_session(other, &agent).await),
        ));
        out.push((
            "dead_server_prompt",
            Sdk::of(&b.prompt_on(other, doomed, "go").await),
        ));
        out.push((
            "dead_server_abort",
            Sdk::of(&b.abort_on(other, Some(doomed)).await),
        ));
        out.push(("dead_server_list", Sdk::of(&b.list_sessions(other).await)));
        // The event iterator of a dead server neither throws nor ends: it stalls.
        let first = stream.recv().await;
        assert_eq!(first, Some(Ok(ServerEvent::Connected)), "connected first");
        let after_kill = tokio::time::timeout(Duration::from_secs(8), async {
            loop {
                match stream.recv().await {
                    Some(Ok(ServerEvent::Heartbeat | ServerEvent::Connected)) => continue,
                    other => break other,
                }
            }
        })
        .await;
        assert!(
            after_kill.is_err(),
            "the SDK's iterator stalls when its server dies; the fake's stream gave {after_kill:?}"
        );
        out
    })
}

/// Cases the models read only as "threw or returned".
const THREW_OR_NOT: &[&str] = &[
    "prompt_ok",
    "prompt_unknown_ses",
    "prompt_aborted_mid_turn",
    "prompt_in_flight_on_sigkill",
    "abort_idle",
    "abort_ok",
    "abort_unknown_ses",
    "abort_empty_id",
    "dead_server_prompt",
    "dead_server_abort",
    "dead_server_list",
];

fn compare(version: &str) {
    let record = record(version);
    let mut differences = Vec::new();
    for seed in 0..8 {
        for (case, fake) in fake_answers(seed) {
            let real = recorded_kind(&record, case);
            let same = if THREW_OR_NOT.contains(&case) {
                fake.returned() == real.returned()
            } else {
                fake == real
            };
            if !same {
                differences.push(format!(
                    "seed {seed}, {case}: the fake answers {fake:?}, SDK 7.2.14 on kilo {version} {real:?}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn the_fake_answers_the_models_as_the_real_server_did_on_7_7_9() {
    compare("7.7.9");
}

#[test]
fn the_fake_answers_the_models_as_the_real_server_did_on_7_0_33() {
    compare("7.0.33");
}

/// `KiloSdk`'s reading of an answer is what the SDK did: an error answer is returned, no
/// answer throws (`lifecycle_models::sdk`). The record must show both kinds for the calls the
/// models make, or the mapping rests on nothing.
#[test]
fn the_record_shows_the_sdk_returning_error_answers_and_throwing_only_without_one() {
    for version in ["7.7.9", "7.0.33"] {
        let record = record(version);
        for case in ["abort_empty_id", "get_unknown"] {
            assert_eq!(recorded_kind(&record, case), Sdk::Error, "{version} {case}");
        }
        for case in [
            "dead_server_create",
            "dead_server_prompt",
            "dead_server_abort",
            "prompt_in_flight_on_sigkill",
        ] {
            assert_eq!(recorded_kind(&record, case), Sdk::Threw, "{version} {case}");
        }
    }
}

/// The raw HTTP record of one server version.
fn http_record(version: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorded")
        .join(format!("kilo-{version}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let record: Value = serde_json::from_str(&text).expect("the record is JSON");
    record["cases"].clone()
}

fn stable<'a>(cases: &'a Value, case: &str) -> &'a Value {
    let entry = &cases[case];
    entry.get("stable").unwrap_or(entry)
}

/// What a server-wide stream carries for one session within the next 200 simulated ms (turns
/// last at most 20 ms here; heartbeats never stop, so a quiet spell would never come).
async fn events_of(
    stream: &mut lifecycle_models::EventStream,
    session: agent_lifecycle::SessionId,
) -> Vec<&'static str> {
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(200);
    while let Ok(Some(Ok(event))) = tokio::time::timeout_at(until, stream.recv()).await {
        match event {
            ServerEvent::Idle(s) if s == session => seen.push("session.idle"),
            ServerEvent::Error(s) if s == session => seen.push("session.error"),
            _ => {}
        }
    }
    seen
}

/// The events and the session's fate: a turn ends with `session.idle`; a provider error ends
/// it with `session.error` then `session.idle`, and the session stays (it can be prompted);
/// an abort of an idle session publishes `session.idle`; an abort mid-turn ends the turn with
/// `session.error` (`MessageAbortedError`) and `session.idle`, and the prompt answers.
#[test]
fn the_fake_publishes_the_real_servers_events_and_keeps_its_sessions() {
    for version in ["7.7.9", "7.0.33"] {
        let cases = http_record(version);
        let turn = stable(&cases, "prompt_blocks_whole_turn");
        assert_eq!(turn["facts"]["idle"], true, "{version}: a turn ends idle");
        let failed = stable(&cases, "provider_malformed");
        assert_eq!(failed["facts"]["errors"].as_array().map(Vec::len), Some(1));
        assert_eq!(failed["facts"]["idle"], true);
        assert_eq!(
            failed["listed_after"], true,
            "{version}: the session persists"
        );
        let aborted = stable(&cases, "abort_mid_turn");
        assert_eq!(aborted["facts"]["errors"][0], "MessageAbortedError");
        let idle_abort = stable(&cases, "abort_idle");
        assert!(
            idle_abort["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e == "session.idle")),
            "{version}: an idle abort publishes session.idle"
        );
    }
    for seed in 0..8 {
        let (failed, after_error, idle_abort, mid_turn) = on_fake_backend(
            seed,
            FaultConfig {
                error_events: 100,
                ..FaultConfig::none()
            },
            |b| async move {
                let agent = AgentId::new("a0");
                let server = b.spawn_server(&Workdir::new("w0")).await.expect("spawn");
                let mut stream = b.subscribe_server(server).await.expect("subscribed");
                let s = b.create_session(server, &agent).await.expect("created");
                // error-events at 100 %: every turn ends in a provider error.
                b.prompt_on(server, s, "go")
                    .await
                    .expect("the prompt answers");
                let failed = events_of(&mut stream, s).await;
                let after_error = Sdk::of(&b.prompt_on(server, s, "again").await);
                let _ = events_of(&mut stream, s).await;
                b.abort_on(server, Some(s)).await.expect("abort");
                let idle_abort = events_of(&mut stream, s).await;
                let mid = b.create_session(server, &agent).await.expect("created");
                let prompting = {
                    let b = b.clone();
                    tokio::task::spawn_local(async move { b.prompt_on(server, mid, "go").await })
                };
                tokio::task::yield_now().await;
                b.abort_on(server, Some(mid)).await.expect("abort");
                let answered = Sdk::of(&prompting.await.expect("the prompt task"));
                let mid_turn = events_of(&mut stream, mid).await;
                (failed, after_error, idle_abort, (answered, mid_turn))
            },
        );
        assert_eq!(failed, ["session.error", "session.idle"], "seed {seed}");
        assert_eq!(
            after_error,
            Sdk::Data,
            "seed {seed}: promptable after an error"
        );
        assert_eq!(idle_abort, ["session.idle"], "seed {seed}");
        assert_eq!(
            mid_turn.0,
            Sdk::Data,
            "seed {seed}: an aborted prompt answers"
        );
        assert!(
            mid_turn.1.ends_with(&["session.idle"]),
            "seed {seed}: an aborted turn ends idle: {:?}",
            mid_turn.1
        );
    }
}

/// `server.close()`: the fake's close stands for a native server that gets the SIGTERM (its
/// streams end after `server.instance.disposed`), `launcher-close` for the gastown image's
/// launcher (the server runs on and its streams keep receiving). Both as recorded.
#[test]
fn a_close_ends_the_servers_streams_as_a_native_server_does() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorded")
        .join("sdk-7.2.14-spawn-on-kilo-7.0.33.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let record: Value = serde_json::from_str(&text).expect("the record is JSON");
    let native = stable(&record["cases"], "native.ready_close");
    assert_eq!(native["event_stream"], "ended");
    let launcher = stable(&record["cases"], "launcher.ready_close");
    assert_eq!(launcher["event_stream"], "open");
    assert_eq!(launcher["port_after_close"], "listening");
    for seed in 0..8 {
        let ended = on_fake_backend(seed, FaultConfig::none(), |b| async move {
            let server = b.spawn_server(&Workdir::new("w0")).await.expect("spawn");
            let mut stream = b.subscribe_server(server).await.expect("subscribed");
            b.kill_server(server);
            tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(event) = stream.recv().await {
                    assert!(event.is_ok(), "a close's stream ends normally: {event:?}");
                }
            })
            .await
            .is_ok()
        });
        assert!(ended, "seed {seed}: the closed server's stream did not end");
    }
}
