//! The command line as a user meets it: exit codes, reports, replays, and bad input.

use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifecycle-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn explore_finds_the_legacy_leak_and_its_replay_is_byte_identical() {
    let found = sim(&["explore", "--model", "legacy", "--seeds", "0..500"]);
    assert_eq!(found.status.code(), Some(1), "{}", stdout(&found));
    let report = stdout(&found);
    assert!(
        report.starts_with("VIOLATION I1 tracked == live in model legacy, seed "),
        "{report}"
    );
    for part in [
        "what:",
        "sessions:",
        "timeline (simulated time):",
        "agent a",
        "replay: ",
    ] {
        assert!(report.contains(part), "report lacks {part:?}:\n{report}");
    }
    let seed = report
        .split("seed ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .trim_end_matches(',');
    let first = sim(&["replay", "--model", "legacy", "--seed", seed]);
    let second = sim(&["replay", "--model", "legacy", "--seed", seed]);
    assert_eq!(first.status.code(), Some(1));
    assert_eq!(first.stdout, second.stdout, "two replays differ");
    // The replay tells the same story explore told.
    assert!(
        report.starts_with(&stdout(&first)),
        "replay differs from the explore report"
    );
}

#[test]
fn explore_on_owned_passes_with_a_one_line_summary() {
    let passed = sim(&["explore", "--model", "owned", "--seeds", "0..300"]);
    assert_eq!(passed.status.code(), Some(0));
    let out = stdout(&passed);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("owned: no violation in 300 scenarios, "),
        "{out}"
    );
    assert!(out.trim_end().ends_with("scenarios/s"), "{out}");
}

#[test]
fn bad_input_is_a_one_line_error_and_exit_2() {
    for args in [
        &["explore", "--seeds", "5..1"][..],
        &["explore", "--seeds", "5..5"],
        &["explore", "--seeds", "abc"],
        &["explore", "--seeds", "0..99999999999999999999"],
        &["explore", "--model", "nonesuch"],
        &["explore", "--time", "soon"],
        &["replay", "--model", "legacy"],
        &["replay", "--model", "legacy", "--seed", "-3"],
        &["frobnicate"],
    ] {
        let o = sim(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn models_lists_every_model() {
    let o = sim(&["models"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("legacy") && out.contains("owned"), "{out}");
}

#[test]
fn explore_without_a_model_prints_the_findings_table() {
    let o = sim(&["explore", "--seeds", "0..200"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("model "))
        .collect();
    assert!(
        table[0].contains("first violated") && table[0].contains("time to find"),
        "{out}"
    );
    for model in ["legacy", "abort-token", "start-lock"] {
        let row = table
            .iter()
            .find(|l| l.starts_with(model))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(row.contains("FAIL") && row.contains(" I"), "{row}");
    }
    let owned = table.iter().find(|l| l.starts_with("owned")).unwrap();
    assert!(owned.contains("pass") && owned.contains(" 200 "), "{owned}");
    assert!(out.contains(
        "replay: cargo run --release -p lifecycle-sim -- replay --model abort-token --seed "
    ));
}

#[test]
fn keep_going_lists_every_invariant_a_model_breaks() {
    let o = sim(&[
        "explore",
        "--model",
        "legacy",
        "--seeds",
        "0..200",
        "--keep-going",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let violated = out
        .lines()
        .find(|l| l.trim_start().starts_with("violated:"))
        .unwrap_or_else(|| panic!("{out}"));
    for code in ["I1", "I3", "I4", "I5", "I7", "I8"] {
        assert!(violated.contains(code), "{violated}");
    }
}
