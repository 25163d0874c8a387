//! The HTML report in a real browser: headless Chromium opens the page of a real campaign
//! (the historical `legacy` manager, whose #1341 leak it finds) and the test checks that it
//! loads without a console message, that it shows as many findings, and for each as many agent
//! and server lanes, as the JSON report of the same run holds, and that the violating step is
//! highlighted. It leaves a screenshot under the target directory for a person.
//!
//! Chromium is the Debian package `chromium` (or `LIFECYCLE_SIM_CHROMIUM=PATH`). Without it the
//! test skips, unless `LIFECYCLE_SIM_REQUIRE_CHROMIUM=1` (as `.ci/run` sets) says it must run.
//! Every browser run is bounded in time and killed, its whole process group, however the test
//! ends; it opens only a local file, with name resolution off.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one browser run may take.
const BROWSER_BOUND: Duration = Duration::from_secs(60);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LIFECYCLE_SIM_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// A browser process group, killed when dropped (a failing assertion included).
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        // Its own process group (its id is the browser's): Chromium's renderer and GPU
        // processes with it, and nothing else.
        let group = i32::try_from(self.0.id()).expect("a process id");
        assert!(group > 1, "not a browser's process group: {group}");
        // SAFETY: kill(2) with a negative id signals exactly that process group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// Runs Chromium headless on `page` with `args`; its stdout and stderr.
fn run_chromium(chromium: &Path, profile: &Path, page: &Path, args: &[&str]) -> Output {
    let out = profile.with_extension("out");
    let err = profile.with_extension("err");
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let mut browser = Browser(child);
    let began = Instant::now();
    let status = loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            began.elapsed() < BROWSER_BOUND,
            "chromium took over {BROWSER_BOUND:?} on {}",
            page.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(browser);
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifecycle-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The servers a replay's text timeline names (`srv1`), counted apart from the page's code.
fn servers_in_replay(case: &Value, dir: &Path, i: usize) -> usize {
    let file = dir.join(format!("case-{i}.json"));
    std::fs::write(&file, case.to_string()).unwrap();
    let replay = sim(&[
        "replay",
        "--model",
        "legacy",
        "--decisions",
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8(replay.stdout).unwrap();
    let timeline = text.split("timeline (simulated time):").nth(1).unwrap();
    let servers: BTreeSet<&str> = timeline
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            w.strip_prefix("srv")
                .is_some_and(|n| n.parse::<u64>().is_ok())
        })
        .collect();
    servers.len()
}

#[test]
fn the_report_of_a_real_finding_opens_in_chromium_and_shows_what_the_json_holds() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("LIFECYCLE_SIM_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "LIFECYCLE_SIM_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)"
        );
        eprintln!(
            "skipped: no chromium on PATH (apt-get install chromium, or LIFECYCLE_SIM_CHROMIUM=PATH)"
        );
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (page, report) = (dir.join("legacy.html"), dir.join("legacy.json"));
    // #1341 and the other races of start and stop, faults off: several findings.
    let run = sim(&[
        "explore",
        "--model",
        "legacy",
        "--ops",
        "start,stop",
        "--faults",
        "none",
        "--seeds",
        "0..40",
        "--report",
        report.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "legacy fails");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let failures = report["models"][0]["failures"].as_array().unwrap().clone();
    assert!(failures.len() >= 2, "{failures:?}");
    assert!(
        failures.iter().any(|f| f["invariant"] == "I1"),
        "the #1341 leak is among them"
    );
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 2_000_000, "the page is {size} bytes");

    let dom = run_chromium(&chromium, &dir.join("profile"), &page, &["--dump-dom"]);
    assert!(dom.status.success(), "chromium failed: {dom:?}");
    let log = String::from_utf8_lossy(&dom.stderr);
    // The page writes nothing to the console: any message (an error, a blocked load) fails.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(
        dom.contains(r#"data-rendered="ok""#),
        "the script did not finish"
    );
    assert!(!dom.contains("data-error="), "an error while drawing");

    // One article per finding; within each, a lane per agent of its case and per server its
    // replay names.
    let articles: Vec<&str> = dom.split(r#"<article class="finding""#).skip(1).collect();
    assert_eq!(
        articles.len(),
        failures.len(),
        "findings shown vs the JSON report"
    );
    for (i, (article, failure)) in articles.iter().zip(&failures).enumerate() {
        let case = &failure["case"];
        let agents = case["workload"]["workdirs"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count();
        let servers = servers_in_replay(case, &dir, i);
        let shown = |kind: &str| article.matches(&format!(r#"data-kind="{kind}""#)).count();
        assert_eq!(shown("agent"), agents, "agent lanes of finding {i}");
        assert_eq!(shown("server"), servers, "server lanes of finding {i}");
        assert_eq!(shown("container"), 1, "the container lane of finding {i}");
        // The violating step is highlighted: its band, a highlighted item, and the violation.
        assert!(
            article.contains(r#"class="step-band""#),
            "no step band in finding {i}"
        );
        assert!(
            article.contains(r#" step""#),
            "nothing highlighted in finding {i}"
        );
        let code = failure["invariant"].as_str().unwrap();
        assert!(article.contains(r#"class="violation-line""#), "finding {i}");
        let label = article
            .split(r#"class="violation-label""#)
            .nth(1)
            .and_then(|rest| rest.split('>').nth(1))
            .and_then(|text| text.split('<').next());
        assert!(
            label.is_some_and(|l| l.starts_with(&format!("{code} "))),
            "finding {i} names {label:?}, not {code}"
        );
    }

    let shot = dir.join("legacy.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let taken = run_chromium(
        &chromium,
        &dir.join("profile"),
        &page,
        &["--hide-scrollbars", "--window-size=1400,1100", &screenshot],
    );
    assert!(taken.status.success(), "{taken:?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "an empty screenshot"
    );
    let _ = std::fs::remove_dir_all(dir.join("profile"));
    eprintln!("screenshot: {}", shot.display());
}
