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
        err.contains("no model called `legacy`; the models are: naive, screened, messaging, owned"),
        "{err}"
    );
}

#[test]
fn require_coverage_fails_naming_a_point_that_can_no_longer_be_reached() {
    let dir = std::env::temp_dir().join(format!("custom-manager-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, xml) = (dir.join("r.json"), dir.join("j.xml"));
    let out = run(&[
        "explore",
        "--model",
        "screened",
        "--seeds",
        "0..2000",
        "--faults",
        "all",
        "--require-coverage",
        "--report",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no violation"), "{text}");
    let named: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("coverage: screened never reached"))
        .collect();
    assert_eq!(
        named,
        [
            "coverage: screened never reached the required point screen.empty_prompt_refused (a start with an empty prompt was turned away)"
        ],
        "{text}"
    );

    let report = std::fs::read_to_string(&json).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let points = report["models"][0]["coverage"].as_array().unwrap();
    let point = |name: &str| points.iter().find(|p| p["point"] == name).unwrap().clone();
    assert_eq!(point("screen.empty_prompt_refused")["scenarios"], 0);
    assert_eq!(point("screen.empty_prompt_refused")["need"], "required");
    assert_eq!(point("screen.passed")["scenarios"], 2000);
    assert_eq!(point("screen.passed")["first_seed"], 0);

    let xml = std::fs::read_to_string(&xml).unwrap();
    let failing = xml
        .split("<testcase ")
        .filter(|case| case.contains("<failure"))
        .map(|case| case.split('"').nth(3).unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    assert_eq!(failing, ["screen.empty_prompt_refused"], "{xml}");

    // Required by a file that lists only what the run reaches, the same run passes.
    let required = dir.join("required.txt");
    std::fs::write(
        &required,
        "# the screen lets starts through\nscreened: screen.passed\n",
    )
    .unwrap();
    let out = run(&[
        "explore",
        "--model",
        "screened",
        "--seeds",
        "0..200",
        "--require-coverage",
        required.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // A misspelt point is an error before anything runs.
    std::fs::write(&required, "screen.pased\n").unwrap();
    let out = run(&[
        "explore",
        "--model",
        "screened",
        "--require-coverage",
        required.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("screen.pased"));
    let _ = std::fs::remove_dir_all(&dir);
}
