//! What `@kilocode/sdk` 7.2.14 makes of the real server's answers: for each call, whether it
//! returned `{data}`, returned `{error}` (with the status), or threw.
//!
//! `sdk/record.mjs` runs under node against a [`KiloServe`]; when it prints `KILL` this test
//! SIGKILLs the server and answers `killed`, so the script can see calls and the event iterator
//! against a dead server. Its outcome is recorded in `recorded/sdk-7.2.14-on-kilo-<version>.json`
//! (or compared with it).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kilo_contract::install::{self, KiloVersion, SDK_VERSION};
use kilo_contract::mock_provider::{Behaviour, MockProvider};
use kilo_contract::record::Recorder;
use kilo_contract::server::KiloServe;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The whole script, bounded.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

struct Tools {
    kilo: PathBuf,
    sdk: PathBuf,
    node: PathBuf,
}

fn tools(version: KiloVersion) -> Option<Tools> {
    let found = install::kilo_bin(version).and_then(|kilo| {
        Ok(Tools {
            kilo,
            sdk: install::sdk_dir()?,
            node: install::node()?,
        })
    });
    match found {
        Ok(tools) => Some(tools),
        Err(reason) => {
            install::skip_or_fail(&reason);
            None
        }
    }
}

/// Runs the script; SIGKILLs the server when asked. Answers the script's `cases`.
async fn run_script(tools: &Tools, server: &mut KiloServe) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/record.mjs");
    let mut child = tokio::process::Command::new(&tools.node)
        .arg(&script)
        .arg(&tools.sdk)
        .arg(server.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let conversation = async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if line.trim() == "KILL" {
                server.kill();
                stdin.write_all(b"killed\n").await.expect("write to node");
                stdin.flush().await.expect("flush");
            } else if let Some(json) = line.strip_prefix("RESULT ") {
                return Some(serde_json::from_str::<Value>(json).expect("RESULT json"));
            }
        }
        None
    };
    let result = tokio::time::timeout(SCRIPT_TIMEOUT, conversation).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let log = stderr_text.await.unwrap_or_default();
    println!("record.mjs stderr:\n{log}");
    match result {
        Ok(Some(result)) => result["cases"].clone(),
        Ok(None) => panic!("record.mjs ended without a RESULT line; stderr:\n{log}"),
        Err(_) => panic!("record.mjs took more than {SCRIPT_TIMEOUT:?}; stderr:\n{log}"),
    }
}

async fn sdk_mapping(version: KiloVersion) {
    let Some(tools) = tools(version) else {
        return;
    };
    let mock = MockProvider::start().await.expect("mock provider");
    // The script's turns, in order: prompt_ok, prompt_aborted_mid_turn, prompt_in_flight_on_sigkill.
    mock.push([
        Behaviour::quick(),
        Behaviour::slow(40, 250),
        Behaviour::slow(80, 250),
    ]);
    let mut server = KiloServe::start(&tools.kilo, mock.port())
        .await
        .unwrap_or_else(|e| panic!("kilo {}: {e}", version.label()));
    let cases = run_script(&tools, &mut server).await;
    let mut rec = Recorder::new(
        &format!("sdk-{SDK_VERSION}-on-kilo-{}", version.label()),
        &format!(
            "@kilocode/sdk {SDK_VERSION} (node) on kilo serve {}",
            version.label()
        ),
    );
    let cases = cases.as_object().expect("cases object").clone();
    for (name, outcome) in &cases {
        rec.case(name, &outcome["stable"], outcome["noise"].clone());
    }
    let stable = |name: &str| cases.get(name).map(|c| c["stable"].clone());
    let mut failures = Vec::new();
    let mut expect = |name: &str, want: Value, why: &str| {
        if stable(name).as_ref() != Some(&want) {
            failures.push(format!(
                "{name} ({why}): got {:?}, expected {want}",
                stable(name)
            ));
        }
    };
    let v7 = version == KiloVersion::V7_7_9;
    expect(
        "create_ok",
        json!({"kind": "data", "status": 200, "data": {"id_prefix": "ses"}}),
        "row 6",
    );
    expect(
        "prompt_ok",
        json!({"kind": "data", "status": 200, "data": {"role": "assistant", "error": null, "finish": "stop"}}),
        "row 8",
    );
    expect(
        "prompt_aborted_mid_turn",
        json!({"kind": "data", "status": 200, "data": {"role": "assistant", "error": "MessageAbortedError", "finish": null}}),
        "row 9 / P-b: {data}, no throw",
    );
    expect(
        "abort_ok",
        json!({"kind": "data", "status": 200, "data": true}),
        "row 21",
    );
    expect(
        "prompt_unknown_ses",
        if v7 {
            json!({"kind": "error", "status": 404, "error": {"name": "NotFoundError"}})
        } else {
            // Content-Length: 0 resolves {data: {}} (docs/real-system.md).
            json!({"kind": "data", "status": 200, "data": {}})
        },
        "P-d",
    );
    expect(
        "abort_empty_id",
        if v7 {
            json!({"kind": "error", "status": 404, "error": {"error": "Not Found"}})
        } else {
            json!({"kind": "error", "status": 500, "error": {"name": "UnknownError"}})
        },
        "A-5: {error}, no throw",
    );
    expect(
        "event_subscribe_first",
        json!({"first": "server.connected", "ended": null}),
        "row 29",
    );
    let fetch_failed = |code: &str| json!({"kind": "threw", "name": "TypeError", "message": "fetch failed", "code": code});
    expect(
        "prompt_in_flight_on_sigkill",
        fetch_failed("UND_ERR_SOCKET"),
        "P-f: throws",
    );
    for call in [
        "dead_server_create",
        "dead_server_prompt",
        "dead_server_abort",
        "dead_server_list",
    ] {
        expect(call, fetch_failed("ECONNREFUSED"), "K-2 / row 5: throws");
    }
    expect(
        "event_iterator_on_sigkill",
        json!({"within_8s": "stalls", "events_after_kill": 0}),
        "K-1 / row 30: neither throws nor ends",
    );
    drop(server);
    rec.finish();
    assert!(
        failures.is_empty(),
        "sdk on kilo {}: {} expectation(s) failed:\n{}",
        version.label(),
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_on_kilo_7_7_9() {
    sdk_mapping(KiloVersion::V7_7_9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_on_kilo_7_0_33() {
    sdk_mapping(KiloVersion::V7_0_33).await;
}
