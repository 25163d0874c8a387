//! Campaign results and the race × contender table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Race;
use crate::contenders::Clock;

/// One campaign of one contender on one race.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub found: bool,
    /// Scenarios (or schedules, or test cases) run.
    pub tries: u64,
    pub cpu: Duration,
    pub wall: Duration,
}

impl Attempt {
    /// A campaign on one thread that never waits: its wall time is its CPU time.
    pub fn new(found: bool, tries: u64, cpu: Duration) -> Self {
        Self {
            found,
            tries,
            cpu,
            wall: cpu,
        }
    }

    /// The campaign's time on the contender's clock.
    fn time(&self, clock: Clock) -> Duration {
        match clock {
            Clock::Cpu => self.cpu,
            Clock::Wall { .. } => self.wall,
        }
    }
}

/// The upper median (with an even count, the larger of the middle two), `None` sorted last.
fn upper_median<T: Ord + Copy>(mut values: Vec<Option<T>>) -> Option<T> {
    values.sort_by_key(|v| (v.is_none(), *v));
    values.get(values.len() / 2).copied().flatten()
}

/// A contender's campaigns on one race.
#[derive(Clone, Debug)]
pub enum Tally {
    /// It cannot express the race, and why.
    Cannot(String),
    /// A campaign panicked outside what the contender's tool catches: a bug in the contender
    /// (or in the code under test the tool does not expect), with its message.
    Broke(String),
    Ran {
        attempts: Vec<Attempt>,
        clock: Clock,
        harness: bool,
    },
}

impl Tally {
    /// The upper median over the campaigns of what `of` reads from each (`None` counts as
    /// never, after every value); `None` for a contender that did not run.
    fn median_of<T: Ord + Copy>(&self, of: impl Fn(&Attempt, Clock) -> Option<T>) -> Option<T> {
        let Tally::Ran {
            attempts, clock, ..
        } = self
        else {
            return None;
        };
        upper_median(attempts.iter().map(|a| of(a, *clock)).collect())
    }

    /// The median campaign's time to find (CPU, or wall for a real-time contender), counting
    /// a campaign that did not find it as never: `None` when most did not.
    pub fn median(&self) -> Option<Duration> {
        self.median_of(|a, clock| a.found.then_some(a.time(clock)))
    }

    fn median_tries(&self) -> Option<u64> {
        self.median_of(|a, _| a.found.then_some(a.tries))
    }

    /// What one try costs in the median campaign that found the race: its time over its tries
    /// (the campaigns that did not find it are left out, not counted as never).
    fn per_try(&self) -> Option<Duration> {
        let Tally::Ran {
            attempts, clock, ..
        } = self
        else {
            return None;
        };
        let per_try = |a: &Attempt| a.time(*clock) / u32::try_from(a.tries).unwrap_or(u32::MAX);
        upper_median(
            attempts
                .iter()
                .filter(|a| a.found && a.tries > 0)
                .map(|a| Some(per_try(a)))
                .collect(),
        )
    }

    /// One of this harness's own strategies.
    fn is_harness(&self) -> bool {
        matches!(self, Tally::Ran { harness: true, .. })
    }

    fn found(&self) -> (usize, usize) {
        match self {
            Tally::Cannot(_) | Tally::Broke(_) => (0, 0),
            Tally::Ran { attempts, .. } => {
                (attempts.iter().filter(|a| a.found).count(), attempts.len())
            }
        }
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Why a peer found a race sooner than the harness's best, from what both measured: fewer
/// tries is a better search; as many tries or more is a cheaper try.
fn why_ahead(peer: &Tally, best: &Tally) -> String {
    let (Some(pt), Some(bt)) = (peer.median_tries(), best.median_tries()) else {
        return String::new();
    };
    let cost = match (peer.per_try(), best.per_try()) {
        (Some(p), Some(b)) => format!(
            "a try costs {:.0} µs against {:.0} µs",
            p.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6
        ),
        _ => String::new(),
    };
    if pt < bt {
        format!("fewer tries ({pt} against {bt}): it searches this race better; {cost}")
    } else {
        let tries = if pt == 1 { "try" } else { "tries" };
        format!("{pt} {tries} against {bt}: {cost}, the fixed cost of a scenario")
    }
}

/// The table: a row per race and contender, with the ratio of each contender's median time
/// to find to the best of this harness's strategies on that race.
pub fn render(
    races: &[Race],
    names: &[String],
    results: &[Vec<Tally>],
    campaigns: u64,
    budget: Duration,
) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| race | contender | found | median time to find | median tries | vs lifecycle-sim's best |"
    )
    .unwrap();
    writeln!(out, "| --- | --- | --- | --- | --- | --- |").unwrap();
    for (race, tallies) in races.iter().zip(results) {
        let best_tally = tallies
            .iter()
            .zip(names)
            .filter(|(t, _)| t.is_harness())
            .filter_map(|(t, n)| t.median().map(|m| (m, t, n)))
            .min_by_key(|(m, ..)| *m);
        for (name, tally) in names.iter().zip(tallies) {
            let title = format!(
                "{} (`{}` {})",
                race.name,
                race.target.name(),
                race.invariant.code()
            );
            let row = match tally {
                Tally::Cannot(why) => {
                    format!("| {title} | {name} | cannot express it | — | — | {why} |")
                }
                Tally::Broke(message) => {
                    format!("| {title} | {name} | broke | — | — | a campaign panicked: {message} |")
                }
                Tally::Ran {
                    attempts, clock, ..
                } => {
                    let (found, of) = tally.found();
                    let unit = match clock {
                        Clock::Cpu => "CPU".to_string(),
                        Clock::Wall { cores } => format!("wall, {cores} cores"),
                    };
                    let median = match tally.median() {
                        Some(t) => format!("{} {unit}", millis(t)),
                        None => format!("> {} {unit}", millis(budget)),
                    };
                    let tries = tally
                        .median_tries()
                        .map_or("—".to_string(), |n| n.to_string());
                    let ratio = match (tally.median(), best_tally) {
                        (Some(t), Some((b, best, best_name))) if t < b && !tally.is_harness() => {
                            format!(
                                "{:.2}x: ahead of {best_name}; {}",
                                t.as_secs_f64() / b.as_secs_f64().max(1e-9),
                                why_ahead(tally, best)
                            )
                        }
                        (Some(t), Some((b, ..))) => {
                            format!("{:.1}x", t.as_secs_f64() / b.as_secs_f64().max(1e-9))
                        }
                        (None, Some((b, ..))) => format!(
                            "> {:.0}x (not found)",
                            budget.as_secs_f64() / b.as_secs_f64().max(1e-9)
                        ),
                        _ => "—".to_string(),
                    };
                    let found = if attempts.len() == 1 && campaigns > 1 {
                        format!("{found}/{of} (one search: deterministic)")
                    } else {
                        format!("{found}/{of}")
                    };
                    format!("| {title} | {name} | {found} | {median} | {tries} | {ratio} |")
                }
            };
            writeln!(out, "{row}").unwrap();
        }
    }
    out
}
