//! A finding must be checkable against the real code: its report names the server, the
//! workdir and the backend's error, as the manager's own types print them.

use std::path::PathBuf;

use lifecycle_sim::{Case, FaultConfig, Model, Story, replay, run_once};

fn case(name: &str) -> Case {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("cases")
        .join(name);
    Case::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_leaked_server_is_named_with_its_workdir() {
    let outcome = replay(&Model::AbortToken, &case("abort-token-I3-seed67.json"));
    let detail = &outcome.violation.expect("POST leaks a server").detail;
    assert_eq!(
        detail,
        "settled, srv1 (workdir w0) still runs, but the manager counts nothing on it: it was never closed"
    );
}

fn start_with(faults: FaultConfig) -> String {
    let story = Story::new().agents(["a0"]).start("a0").faults(faults);
    run_once(&Model::Owned, &story, 0).history.timeline()
}

#[test]
fn a_failed_start_says_what_the_backend_answered() {
    let timeline = start_with(FaultConfig {
        hangs: 100,
        ..FaultConfig::none()
    });
    assert!(
        timeline.contains("start a0 returned error: backend timed out"),
        "{timeline}"
    );
    let timeline = start_with(FaultConfig {
        call_errors: 100,
        ..FaultConfig::none()
    });
    assert!(
        timeline.contains("start a0 returned error: backend failed: "),
        "{timeline}"
    );
}
