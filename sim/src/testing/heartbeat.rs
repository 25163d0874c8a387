//! A long check says it is alive: every few seconds of wall-clock time, one line on stderr with
//! how many runs it has done, written past the test harness's capture (as a check's warnings
//! are), so that a check that runs for minutes in an unoptimised build is not silent. The clock
//! decides only when a line is printed, never what a check runs or finds.

use std::io::Write;
use std::time::{Duration, Instant};

/// How often a long check prints its line.
pub(super) const EVERY: Duration = Duration::from_secs(10);

pub(super) struct Heartbeat<W> {
    what: String,
    began: Instant,
    last: Instant,
    every: Duration,
    budgeted: bool,
    out: W,
}

impl Heartbeat<std::io::Stderr> {
    /// The heartbeat of the check `what` (`budgeted`: it has a time budget of its own).
    pub(super) fn stderr(what: String, budgeted: bool) -> Self {
        Self::new(what, budgeted, EVERY, std::io::stderr())
    }
}

impl<W: Write> Heartbeat<W> {
    pub(super) fn new(what: String, budgeted: bool, every: Duration, out: W) -> Self {
        let now = Instant::now();
        Self {
            what,
            began: now,
            last: now,
            every,
            budgeted,
            out,
        }
    }

    /// `runs` have run so far: prints the line if it is time to.
    pub(super) fn tick(&mut self, runs: u64) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let hint = if self.budgeted {
            ""
        } else {
            " (no time budget: CheckOptions::within sets one)"
        };
        let _ = writeln!(
            self.out,
            "lifecycle-sim: {}: {runs} runs in {:.0} s{hint}",
            self.what,
            self.began.elapsed().as_secs_f64()
        );
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_check_prints_its_runs_and_how_to_bound_it() {
        let mut beat = Heartbeat::new(
            "check_dfs on owned".into(),
            false,
            Duration::ZERO,
            Vec::new(),
        );
        beat.tick(10);
        beat.tick(20);
        let text = String::from_utf8(beat.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].starts_with("lifecycle-sim: check_dfs on owned: 20 runs in "),
            "{text}"
        );
        assert!(
            lines[1].ends_with("CheckOptions::within sets one)"),
            "{text}"
        );
    }

    #[test]
    fn a_short_check_prints_nothing() {
        let mut beat = Heartbeat::new("check_random on owned".into(), true, EVERY, Vec::new());
        beat.tick(1);
        assert!(beat.into_inner().is_empty());
    }
}
