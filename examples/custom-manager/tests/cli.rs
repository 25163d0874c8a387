//! This crate's binary is the harness's CLI on its own subjects (`cli::main_with`): explore,
//! replay and shrink work on a manager the harness has never heard of.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custom-manager"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn models_lists_this_crates_subjects() {
    let out = run(&["models"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("naive") && text.contains("owned"), "{text}");
    assert!(!text.contains("legacy"), "{text}");
}

#[test]
fn explore_replay_and_shrink_run_on_the_naive_manager() {
    let out = run(&[
        "explore",
        "--model",
        "naive",
        "--seeds",
        "0..50",
        "--no-shrink",
        "--jobs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("naive"), "{text}");
    // Reports tell the reader to replay with this binary, not the harness's own.
    assert!(
        text.contains("cargo run --release --bin custom-manager -- replay --model naive --seed"),
        "{text}"
    );

    let out = run(&["replay", "--model", "naive", "--seed", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("VIOLATION I1"), "{}", stdout(&out));

    let out = run(&["shrink", "--model", "naive", "--seed", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("shrunk in") && text.contains("#[test]"),
        "{text}"
    );
    assert!(text.contains("your_subject()"), "{text}");

    let out = run(&[
        "explore", "--model", "owned", "--seeds", "0..20", "--jobs", "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn an_unknown_model_is_a_usage_error_that_lists_the_models() {
    let out = run(&["replay", "--model", "legacy", "--seed", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no model called `legacy`; the models are: naive, owned"),
        "{err}"
    );
}
