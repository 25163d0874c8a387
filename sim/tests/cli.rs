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
        report.starts_with("VIOLATION ") && report.contains(" in model legacy, seed "),
        "{report}"
    );
    for part in ["what:", "timeline (simulated time):", "agent a", "replay: "] {
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
fn explore_on_owned_passes_with_a_one_line_summary_and_metrics() {
    let passed = sim(&["explore", "--model", "owned", "--seeds", "0..300"]);
    assert_eq!(passed.status.code(), Some(0));
    let out = stdout(&passed);
    let lines: Vec<&str> = out.lines().collect();
    // The summary, the metrics, the coverage line, and the required points never reached in
    // so few seeds.
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[2].starts_with("owned: coverage: "), "{out}");
    assert!(lines[3].starts_with("owned:   never reached: "), "{out}");
    assert!(
        lines[0].starts_with("owned: no violation in 300 scenarios, "),
        "{out}"
    );
    assert!(lines[0].ends_with("scenarios/s"), "{out}");
    assert!(
        lines[1].contains("distinct interleavings")
            && lines[1].contains("(state, operation) pairs"),
        "{out}"
    );
}

/// A file that looks like a case but is not one.
const BAD_CASE: &str = "/tmp/lifecycle-sim-cli-bad-case.json";

#[test]
fn bad_input_is_a_one_line_error_and_exit_2() {
    std::fs::write(BAD_CASE, "{ \"workload\": 3 }").unwrap();
    for args in [
        &["explore", "--seeds", "5..1"][..],
        &["explore", "--seeds", "5..5"],
        &["explore", "--seeds", "abc"],
        &["explore", "--seeds", "0..99999999999999999999"],
        &["explore", "--model", "nonesuch"],
        &["explore", "--time", "soon"],
        &["replay", "--model", "legacy"],
        &["replay", "--model", "legacy", "--seed", "-3"],
        &[
            "replay",
            "--model",
            "legacy",
            "--seed",
            "1",
            "--decisions",
            "x.json",
        ],
        &[
            "replay",
            "--model",
            "legacy",
            "--decisions",
            "/nonexistent/case.json",
        ],
        &["replay", "--model", "legacy", "--decisions", BAD_CASE],
        &["replay", "--model", "legacy", "--seed", "1", "--structured"],
        &["explore", "--shard", "2/2"],
        &["explore", "--shard", "1"],
        &["explore", "--jobs", "0"],
        &[
            "explore",
            "--seeds",
            "0..10",
            "--report",
            "/nonexistent/dir/r.json",
        ],
        &["shrink", "--model", "owned"],
        &["explore", "--strategy", "pct", "--depth", "0"],
        &["explore", "--strategy", "sideways"],
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
    // The historical models' failures are expected, and owned holds: the sweep passes, and
    // says so after the table.
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("expected: legacy, abort-token, start-lock") && out.contains("held: owned"),
        "{out}"
    );
    // Summary first: the table is the first thing printed, before any failure's report.
    assert!(out.starts_with("model "), "{out}");
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
        // A leak (I) or L2 first: legacy keeps starting agents on a crashed server (seed 0).
        assert!(
            row.contains("FAIL") && (row.contains(" I") || row.contains(" L2 ")),
            "{row}"
        );
    }
    let owned = table.iter().find(|l| l.starts_with("owned")).unwrap();
    assert!(owned.contains("pass") && owned.contains(" 200 "), "{owned}");
    // The expected failures' reports are behind --verbose.
    let replay =
        "replay: cargo run --release -p lifecycle-sim -- replay --model abort-token --seed ";
    assert!(!out.contains(replay), "{out}");
    let verbose = stdout(&sim(&["explore", "--seeds", "0..200", "-v"]));
    assert!(
        verbose.starts_with("model ") && verbose.contains(replay),
        "{verbose}"
    );
}

#[test]
fn explore_goes_on_after_failures_and_lists_each_distinct_one() {
    let o = sim(&[
        "explore",
        "--model",
        "legacy",
        "--seeds",
        "0..200",
        "--no-shrink",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let violated = out
        .lines()
        .find(|l| l.trim_start().starts_with("violated:"))
        .unwrap_or_else(|| panic!("{out}"));
    for code in ["I1", "I3", "I4", "I5", "I7", "L2"] {
        assert!(violated.contains(code), "{violated}");
    }
    let fast = stdout(&sim(&[
        "explore",
        "--model",
        "legacy",
        "--seeds",
        "0..200",
        "--no-shrink",
        "--fail-fast",
    ]));
    assert!(
        fast.contains(" found at seed 0 after 1 scenarios"),
        "{fast}"
    );
}

#[test]
fn jobs_do_not_change_what_a_seed_range_finds() {
    let dir = temp_dir("jobs");
    let report = |jobs: &str| {
        let path = dir.join(format!("report-{jobs}.json"));
        let o = sim(&[
            "explore",
            "--seeds",
            "0..300",
            "--jobs",
            jobs,
            "--report",
            path.to_str().unwrap(),
        ]);
        // Only the historical models fail: expected.
        assert_eq!(o.status.code(), Some(0));
        let r = lifecycle_sim::report::json::RunReport::from_json(
            &std::fs::read_to_string(&path).unwrap(),
        )
        .unwrap();
        r.models
            .into_iter()
            .map(|m| {
                (
                    m.model,
                    m.scenarios,
                    m.interleavings,
                    m.failures
                        .into_iter()
                        .map(|f| (f.signature, f.seed, f.occurrences, f.case))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(report("1"), report("2"));
}

/// Runs `args` (of one shard, or unsharded) with a JSON report in `dir`; the report's path.
fn sharded_report(
    dir: &std::path::Path,
    args: &[&str],
    shard: Option<&str>,
) -> (std::path::PathBuf, Output) {
    let path = dir.join(format!(
        "r-{}.json",
        shard.unwrap_or("all").replace('/', "of")
    ));
    let mut args = args.to_vec();
    args.extend(["--report", path.to_str().unwrap()]);
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let out = sim(&args);
    (path, out)
}

#[test]
fn two_shards_cover_exactly_the_unsharded_run() {
    let dir = temp_dir("shards");
    let run = |shard: Option<&str>| {
        let (path, _) = sharded_report(
            &dir,
            &[
                "explore",
                "--model",
                "legacy",
                "--seeds",
                "0..400",
                "--no-shrink",
            ],
            shard,
        );
        let r = lifecycle_sim::report::json::RunReport::from_json(
            &std::fs::read_to_string(&path).unwrap(),
        )
        .unwrap();
        let m = &r.models[0];
        (
            m.scenarios,
            m.failures
                .iter()
                .map(|f| f.seed)
                .collect::<std::collections::BTreeSet<u64>>(),
        )
    };
    let (all, all_seeds) = run(None);
    let (even, even_seeds) = run(Some("0/2"));
    let (odd, odd_seeds) = run(Some("1/2"));
    assert_eq!(even + odd, all);
    assert!(even_seeds.iter().all(|s| s % 2 == 0) && odd_seeds.iter().all(|s| s % 2 == 1));
    // Each unsharded failure's first seed is found again by the shard that owns it, unless an
    // earlier seed of the same kind sits in that shard.
    assert!(
        all_seeds
            .iter()
            .all(|s| even_seeds.contains(s) || odd_seeds.contains(s) || *s > 0)
    );
}

#[test]
fn the_reports_are_valid_junit_and_round_trip_as_json() {
    let dir = temp_dir("reports");
    let (json, xml) = (dir.join("r.json"), dir.join("j.xml"));
    let o = sim(&[
        "explore",
        "--seeds",
        "0..100",
        "--no-shrink",
        "--report",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
    ]);
    // Only the historical models fail: expected, so the run passes; the reports hold them.
    assert_eq!(o.status.code(), Some(0));
    let text = std::fs::read_to_string(&json).unwrap();
    let report = lifecycle_sim::report::json::RunReport::from_json(&text).unwrap();
    assert_eq!(
        report.to_json(),
        text,
        "the JSON report does not round-trip"
    );
    assert_eq!(report.models.len(), 4);

    let xml = std::fs::read_to_string(&xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("testcase") && n.attribute("classname") == Some("lifecycle-sim.explore")
        })
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["legacy", "abort-token", "start-lock", "owned"]);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(failed, ["legacy", "abort-token", "start-lock"]);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lifecycle-sim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_saved_failure_replays_like_its_seed_and_writes_a_chrome_trace() {
    let dir = temp_dir("saved");
    let found = sim(&[
        "explore",
        "--model",
        "legacy",
        "--seeds",
        "0..50",
        "--no-shrink",
        "--fail-fast",
        "--save-failures",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(found.status.code(), Some(1));
    let saved: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let file = saved[0].to_str().unwrap();
    let seed = file
        .rsplit("seed")
        .next()
        .unwrap()
        .trim_end_matches(".json");

    let from_seed = stdout(&sim(&["replay", "--model", "legacy", "--seed", seed]));
    let trace = dir.join("trace.json");
    let from_file = sim(&[
        "replay",
        "--model",
        "legacy",
        "--decisions",
        file,
        "--trace-out",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(from_file.status.code(), Some(1));
    let again = sim(&["replay", "--model", "legacy", "--decisions", file]);
    assert_eq!(
        from_file.stdout, again.stdout,
        "two replays of the file differ"
    );
    // The same run: everything but the header and the replay line is identical.
    let body = |text: &str| {
        text.lines()
            .skip(1)
            .filter(|l| !l.starts_with("replay:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&from_seed), body(&stdout(&from_file)));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(
        json["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
}

#[test]
fn shrink_prints_a_small_case_and_a_regression_test() {
    let dir = temp_dir("shrink");
    let save = dir.join("shrunk.json");
    let o = sim(&[
        "shrink",
        "--model",
        "legacy",
        "--seed",
        "0",
        "--save",
        save.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let steps: usize = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("shrunk in ")
                .and_then(|r| r.split(" to ").nth(1))
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(steps <= 8, "{out}");
    assert!(
        out.contains("#[test]") && out.contains("lifecycle_sim::Case::from_json("),
        "{out}"
    );
    let replay = sim(&[
        "replay",
        "--model",
        "legacy",
        "--decisions",
        save.to_str().unwrap(),
    ]);
    assert_eq!(replay.status.code(), Some(1));
    // Nothing to shrink on a passing model.
    let clean = sim(&["shrink", "--model", "owned", "--seed", "0"]);
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn dfs_exhausts_the_two_start_scenario_on_owned_and_finds_legacy_leaking() {
    let owned = sim(&["explore", "--model", "owned", "--strategy", "dfs"]);
    assert_eq!(owned.status.code(), Some(0));
    assert!(
        stdout(&owned).contains("no violation; exhausted: all "),
        "{}",
        stdout(&owned)
    );
    let legacy = sim(&["explore", "--model", "legacy", "--strategy", "dfs"]);
    assert_eq!(legacy.status.code(), Some(1));
    assert!(
        stdout(&legacy).contains(
            "bounded search of the two-start scenario: I1 tracked == live at 0 deviation(s)"
        ),
        "{}",
        stdout(&legacy)
    );
}

/// The workflow's shell commands, one per `run:` (folded blocks joined), with the workflow's
/// expressions given the values docs/nightly.md shows.
fn workflow_commands() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.github/workflows/nightly.yml"
    );
    let text = std::fs::read_to_string(path).expect("the nightly workflow");
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("run: ") else {
            continue;
        };
        let rest = line[at + 5..].trim();
        let command = if rest == ">" {
            let indent = line.len() - line.trim_start().len();
            lines[i + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            rest.to_string()
        };
        commands.push(
            command
                .replace("${{ matrix.shard }}", "3")
                .replace("${{ inputs.time || '5h' }}", "5h")
                .replace("\"$(nproc)\"", "8")
                .replace(
                    "./target/release/lifecycle-sim",
                    "cargo run --release -p lifecycle-sim --",
                )
                .replace("cargo fuzz", "cargo +nightly fuzz"),
        );
    }
    commands
}

#[test]
fn the_nightly_workflow_runs_the_commands_docs_nightly_shows() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/nightly.md"))
        .expect("docs/nightly.md");
    let commands = workflow_commands();
    let explore: Vec<&String> = commands
        .iter()
        .filter(|c| c.contains("lifecycle-sim -- explore") || c.contains("fuzz run"))
        .collect();
    assert_eq!(explore.len(), 2, "{commands:?}");
    let merge = commands
        .iter()
        .find(|c| c.contains("lifecycle-sim -- merge"))
        .expect("the workflow merges the shards");
    assert!(merge.contains("--require-coverage"), "{merge}");
    for command in explore.iter().copied().chain([merge]) {
        assert!(
            doc.contains(command.as_str()),
            "docs/nightly.md lacks `{command}`"
        );
    }
    // And the explore command runs as written (a seed range instead of five hours).
    let explore = explore[0];
    let dir = std::env::temp_dir().join(format!("lifecycle-sim-nightly-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args: Vec<String> = explore
        .split_once("-- ")
        .unwrap()
        .1
        .replace("--time 5h", "--seeds 0..30")
        .split_whitespace()
        .map(String::from)
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle-sim"))
        .args(&args)
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    let reports = (
        dir.join("report-3.json").exists(),
        dir.join("junit-3.xml").exists(),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(reports, (true, true));
}

#[test]
fn dfs_enumerates_the_scenario_it_is_given_and_says_which() {
    let case = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/cases/legacy-I1-seed17.json"
    );
    let out = sim(&[
        "explore",
        "--strategy",
        "dfs",
        "--model",
        "owned",
        "--scenario",
        case,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("owned: bounded search of the scenario of ")
            && text.contains("exhausted: all"),
        "{text}"
    );
    let out = sim(&[
        "explore",
        "--strategy",
        "dfs",
        "--model",
        "legacy",
        "--scenario",
        case,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("VIOLATION I1"), "{}", stdout(&out));
    let out = sim(&["explore", "--strategy", "dfs", "--model", "owned"]);
    assert!(
        stdout(&out).contains("bounded search of the two-start scenario"),
        "{}",
        stdout(&out)
    );
    let out = sim(&["explore", "--model", "owned", "--scenario", case]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("add --strategy dfs"),
        "{}",
        stderr(&out)
    );
}

/// `--ms-steps` runs version 2: its replay lines carry the flag, and replaying with it gives
/// the same report, while the same seed without it (time jumps) is another run.
#[test]
fn ms_steps_is_carried_into_the_replay_command() {
    let found = sim(&[
        "explore",
        "--model",
        "legacy",
        "--seeds",
        "0..50",
        "--ms-steps",
        "--no-shrink",
    ]);
    assert_eq!(found.status.code(), Some(1), "{}", stdout(&found));
    let report = stdout(&found);
    let replay = report
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("replay: cargo run --release -p lifecycle-sim -- ")
        })
        .unwrap_or_else(|| panic!("{report}"));
    assert!(replay.contains(" --ms-steps"), "{replay}");
    let args: Vec<&str> = replay.split_whitespace().collect();
    let stepped = sim(&args);
    assert_eq!(stepped.status.code(), Some(1));
    assert!(stdout(&stepped).contains("replay: cargo run --release -p lifecycle-sim -- replay"));
    let jumping: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--ms-steps")
        .collect();
    let jumped = sim(&jumping);
    let digest = |o: &Output| {
        stdout(o)
            .lines()
            .find(|l| l.starts_with("trace digest"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{}", stdout(o)))
    };
    assert_eq!(digest(&stepped), digest(&sim(&args)));
    assert_ne!(digest(&stepped), digest(&jumped));
    // Both flags at once is a usage error.
    let both = sim(&[
        "explore",
        "--model",
        "owned",
        "--seeds",
        "0..1",
        "--ms-steps",
        "--time-jumps",
    ]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

/// `system --seed` tells one system scenario: rollback's written-off dispatch at seed 5 fails
/// (exit 1) with S3 and the town's story in the timeline; fenced passes the same seed.
#[test]
fn system_replays_one_scenario_and_rejects_bad_input() {
    let args = |policy: &'static str| {
        [
            "system", "--policy", policy, "--model", "owned", "--seed", "5", "--faults", "system",
        ]
    };
    let rollback = sim(&args("rollback"));
    assert_eq!(rollback.status.code(), Some(1), "{}", stdout(&rollback));
    let out = stdout(&rollback);
    assert!(out.contains("VIOLATION S3"), "{out}");
    assert!(
        out.contains("town: dispatch d3: timed out; rolled back to idle"),
        "{out}"
    );
    assert!(
        out.contains("network: town and container partitioned"),
        "{out}"
    );
    let fenced = sim(&args("fenced"));
    assert_eq!(fenced.status.code(), Some(0), "{}", stdout(&fenced));

    let bad = sim(&["system", "--policy", "optimistic"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("the policies are: leave-working, rollback, fenced"));
    let ambiguous = sim(&["system", "--seed", "1"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(stderr(&ambiguous).contains("name one --policy and one --model"));
    let traceless = sim(&["system", "--trace-out", "x.json"]);
    assert_eq!(traceless.status.code(), Some(2));
}

/// A saved system case replays with its recorded verdict, and writes a trace with a track
/// for the town's host and one for the container.
#[test]
fn a_system_case_replays_and_writes_a_trace_with_a_track_per_host() {
    let case = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/cases/system/fenced-S4-registry-out-of-order-seed1173.json"
    );
    let dir = temp_dir("system-trace");
    let trace = dir.join("trace.json");
    let out = sim(&[
        "system",
        "--case",
        case,
        "--model",
        "start-lock",
        "--trace-out",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("VIOLATION S4"), "{}", stdout(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let tracks: Vec<&str> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for track in ["town", "container", "agent a2"] {
        assert!(tracks.contains(&track), "{tracks:?}");
    }
    let owned = sim(&["system", "--case", case, "--model", "owned"]);
    assert_eq!(owned.status.code(), Some(0), "{}", stdout(&owned));
}

/// `explore --world system` runs the system sweep; the flags it cannot honour yet are
/// refused with a one-line error.
#[test]
fn explore_world_system_sweeps_the_system() {
    let out = sim(&[
        "explore", "--world", "system", "--policy", "fenced", "--model", "owned", "--seeds",
        "0..20", "--jobs", "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fenced         owned        pass"),
        "{}",
        stdout(&out)
    );
    let refused = sim(&["explore", "--world", "system", "--junit", "x.xml"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--junit is not available with --world system"));
}

/// `explore --grid` prints the state × operation map; the JSON report keeps its cells.
#[test]
fn explore_grid_prints_the_state_operation_map_and_the_report_keeps_it() {
    let dir = temp_dir("grid");
    let report = dir.join("report.json");
    let out = sim(&[
        "explore",
        "--model",
        "owned",
        "--seeds",
        "0..200",
        "--jobs",
        "1",
        "--grid",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("operation on"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("start Starting"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.split_whitespace().skip(2).any(|c| c != "."), "{row}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let cells = json["models"][0]["state_operations"].as_array().unwrap();
    assert!(
        cells
            .iter()
            .any(|c| c["operation"] == "start" && c["status"] == "Starting"),
        "{cells:?}"
    );
}

#[test]
fn merged_shard_reports_count_coverage_as_the_unsharded_run() {
    let dir = temp_dir("merge");
    let report = |shard: Option<&str>| {
        let args = [
            "explore", "--model", "owned", "--seeds", "0..600", "--faults", "all",
        ];
        let (path, out) = sharded_report(&dir, &args, shard);
        assert_eq!(out.status.code(), Some(0));
        path
    };
    let all = report(None);
    let shards = [report(Some("0/2")), report(Some("1/2"))];
    let merged = dir.join("merged.json");
    let out = sim(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--report",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let read = |p: &std::path::Path| {
        lifecycle_sim::report::json::RunReport::from_json(&std::fs::read_to_string(p).unwrap())
            .unwrap()
    };
    let (all, merged) = (read(&all), read(&merged));
    assert_eq!(merged.models[0].scenarios, all.models[0].scenarios);
    let counts = |r: &lifecycle_sim::report::json::RunReport| {
        r.models[0]
            .coverage
            .iter()
            .map(|p| (p.point.clone(), p.scenarios, p.first_seed))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(counts(&merged), counts(&all));
    // Merged, the shards reach what the whole run reaches; alone, one shard may not.
    let required = sim(&["merge", shards[0].to_str().unwrap(), "--require-coverage"]);
    let both = sim(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--require-coverage",
    ]);
    let unreached = |o: &Output| {
        stdout(o)
            .matches("never reached the required point")
            .count()
    };
    assert!(
        unreached(&both) <= unreached(&required),
        "{}",
        stdout(&both)
    );
}

#[test]
fn a_decisions_file_that_is_not_a_case_is_refused_unless_it_is_named_a_fuzz_input() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // A committed fuzz seed of decisions_owned: bytes, not a case.
    let input = format!("{root}/fuzz/corpus/decisions_owned/seed-0");
    let text = std::env::temp_dir().join(format!("lifecycle-sim-notes-{}.txt", std::process::id()));
    std::fs::write(&text, "these are my notes, not a case\n").unwrap();
    for file in [input.as_str(), text.to_str().unwrap()] {
        let o = sim(&["replay", "--model", "owned", "--decisions", file]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error: ") && err.contains(file), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--fuzz"), "the error names the flag: {err}");
        assert!(o.stdout.is_empty());
    }
    std::fs::remove_file(&text).unwrap();
    // Named as what it is, the seed runs (owned passes every committed seed), and the
    // report's replay command carries the flag.
    let o = sim(&[
        "replay",
        "--model",
        "owned",
        "--decisions",
        &input,
        "--fuzz",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let again = format!("replay --model owned --decisions {input} --fuzz\n");
    assert!(stdout(&o).contains(&again), "{}", stdout(&o));
    let structured = format!("{root}/fuzz/corpus/structured_owned/seed-0");
    let o = sim(&[
        "replay",
        "--model",
        "owned",
        "--decisions",
        &structured,
        "--structured",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

/// The bounded search says how far it got: the deviations of what it found and the bound
/// within which nothing was, or the bound it was given and the schedules within it.
#[test]
fn dfs_reports_deviations_and_the_bound_it_searched() {
    let case = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/cases/abort-token-I3-seed30.json"
    );
    let found = sim(&[
        "explore",
        "--strategy",
        "dfs",
        "--model",
        "abort-token",
        "--invariant",
        "I3",
        "--scenario",
        case,
    ]);
    assert_eq!(found.status.code(), Some(1), "{}", stderr(&found));
    let text = stdout(&found);
    assert!(
        text.contains("I3 reference counts at 2 deviation(s)")
            && text.contains("no I3 within bound 1 (")
            && text.contains("shrunk in "),
        "{text}"
    );
    let clean = sim(&[
        "explore",
        "--strategy",
        "dfs",
        "--model",
        "owned",
        "--max-deviations",
        "1",
        "--scenario",
        case,
    ]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let text = stdout(&clean);
    assert!(
        text.contains("no violation within bound 1 (")
            && text.contains("--max-deviations ended the search"),
        "{text}"
    );
    let misplaced = sim(&["explore", "--model", "owned", "--max-deviations", "1"]);
    assert_eq!(misplaced.status.code(), Some(2));
    assert!(
        stderr(&misplaced).contains("add --strategy dfs"),
        "{}",
        stderr(&misplaced)
    );
}
