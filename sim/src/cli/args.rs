//! The arguments the subcommands share: how scenarios are generated, where one comes from,
//! and the parsers for the flags clap cannot read by itself.

use std::ops::Range;
use std::path::PathBuf;

use super::UsageError;
use crate::report::Origin;
use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::OpMix;
use crate::subject::Subject;
use crate::{FaultMode, Settings, Strategy};
use clap::{Args, ValueEnum};

pub(super) fn default_jobs() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

pub(super) fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard; write it as K/N, such as 0/4"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("`{k}` in `{text}` is not a shard number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` in `{text}` is not a shard count"))?;
    if n == 0 || k >= n {
        return Err(format!(
            "shard {k}/{n} does not exist: K must be below N, and N above 0"
        ));
    }
    Ok((k, n))
}

/// A built-in invariant by its code, or one of `model`'s own by its name.
pub(super) fn parse_invariant(
    model: &dyn Subject,
    text: &str,
) -> Result<crate::Invariant, UsageError> {
    let own = model.invariants();
    crate::Invariant::parse(text)
        .or_else(|| {
            own.iter()
                .find(|name| **name == text)
                .map(|name| crate::Invariant::User(name))
        })
        .ok_or_else(|| {
            let extra = if own.is_empty() {
                String::new()
            } else {
                format!(", or {model}'s own: {}", own.join(", "))
            };
            UsageError(format!(
                "`{text}` is not an invariant (I1..I8, L1..L6, panic{extra})"
            ))
        })
}

/// How scenarios are generated from seeds.
#[derive(Args, Clone)]
pub(super) struct Generation {
    /// Which faults the backend injects.
    #[arg(long, value_enum, default_value_t = FaultChoice::Swarm)]
    pub(super) faults: FaultChoice,
    /// How the answers to concurrent backend calls are ordered.
    #[arg(long, default_value = "random", value_parser = strategy_names())]
    pub(super) strategy: String,
    /// PCT depth d: the number of ordering constraints a bug needs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    depth: u32,
    /// One turmoil step a simulated millisecond (harness version 2) instead of time that
    /// jumps to the next event (version 3, the default): about five times slower, for
    /// comparing with version 2's results.
    #[arg(long)]
    pub(super) ms_steps: bool,
    /// Time jumps to the next event: the default since version 3 (accepted for commands
    /// printed before it was).
    #[arg(long, hide = true, conflicts_with = "ms_steps")]
    time_jumps: bool,
    /// Let distinct agents share a workdir, and so a server, as only the triage and mayor
    /// workspaces do in the real system (by default each agent has its own worktree).
    #[arg(long)]
    pub(super) shared_workdirs: bool,
    /// Every prompt's turn lasts this many simulated milliseconds (kilo-serve's
    /// `session.prompt` blocks for the model's whole turn) instead of its drawn latency; what
    /// L5 judges. Keep it below the call timeout (100 ms), or the managers' prompts time out.
    #[arg(long, value_name = "MS")]
    pub(super) turn_ms: Option<u64>,
    /// Switch on a fault family that is off unless named: `launcher-close` (the gastown
    /// image's `server.close()` kills only the kilo launcher) or `stream-errors`
    /// (hypothetical: a dead server's event stream throws).
    #[arg(long, value_name = "FAMILY", value_parser = parse_opt_in)]
    pub(super) also: Vec<String>,
    /// The operation kinds every scenario draws from, such as `start,stop,refresh`: start,
    /// restart, stop, evict, refresh, update, reboot, `custom` (all the subject's own) or one
    /// of the subject's own by name; `all` is start to evict, `every` is all of them. Without
    /// it, each seed draws its own subset (swarm), with the subject's own operations in.
    #[arg(long, value_name = "LIST", value_parser = parse_ops)]
    pub(super) ops: Option<String>,
}

/// Checks an `--ops` list's words (custom names are checked against the subject later).
fn parse_ops(text: &str) -> Result<String, String> {
    ops_of(text).map(|_| text.to_string())
}

/// An `--ops` list: its built-in kinds, and the custom operations it names.
fn ops_of(text: &str) -> Result<(OpMix, Vec<String>), String> {
    let mut builtin = Vec::new();
    let mut custom = Vec::new();
    for word in text.split(',').map(str::trim) {
        if word.parse::<OpMix>().is_ok() {
            builtin.push(word);
        } else if crate::scenario::workload_text::is_custom_name(word) {
            custom.push(word.to_string());
        } else {
            return Err(format!(
                "`{word}` is not an operation kind (start, restart, stop, evict, refresh, \
                 update, reboot, custom, all, every, or a subject's own operation)"
            ));
        }
    }
    let mut mix = if builtin.is_empty() {
        OpMix::starts()
    } else {
        builtin.join(",").parse().expect("each word parsed above")
    };
    mix.custom |= !custom.is_empty();
    Ok((mix, custom))
}

fn parse_opt_in(text: &str) -> Result<String, String> {
    FaultConfig::none()
        .with_opt_in(text)
        .map(|_| text.to_string())
}

#[derive(Args, Clone)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("origin").required(true).args(["seed", "decisions"])))]
pub(super) struct Source {
    /// A generated scenario's seed.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// A saved case file (JSON: from --save-failures, shrink --save, or a failing
    /// `assert_holds`). Anything else is refused, unless --fuzz or --structured says it is a
    /// cargo-fuzz input.
    #[arg(long, value_name = "FILE")]
    pub(super) decisions: Option<PathBuf>,
    /// The --decisions FILE is a cargo-fuzz input of a `decisions_*` target (raw bytes, such
    /// as a crash artifact), read as the run's decision stream.
    #[arg(long, requires = "decisions")]
    pub(super) fuzz: bool,
    /// The --decisions FILE is a cargo-fuzz input of a `structured_*` target (the workload
    /// from `arbitrary`, then the decision stream).
    #[arg(long, requires = "decisions")]
    pub(super) structured: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum HuntScenario {
    Generated,
    LateRestart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum FaultChoice {
    /// Each seed switches a random subset of fault families (and operation kinds) on.
    Swarm,
    /// Every fault family on for every seed.
    All,
    /// No faults: only latency and interleaving.
    None,
}

/// The strategies' names, from their registry, with one line on each for `--help`.
fn strategy_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        Strategy::NAMES.map(|(name, help)| clap::builder::PossibleValue::new(name).help(help)),
    )
}

impl Generation {
    pub(super) fn strategy(&self) -> Strategy {
        Strategy::parse(&self.strategy, self.depth).expect("checked by the parser")
    }

    /// The settings for `subject`: its own operations join the draw, or those `--ops` names
    /// (each must be one of its own).
    pub(super) fn settings_for(&self, subject: &dyn Subject) -> Result<Settings, UsageError> {
        let mut settings = self.settings().for_subject(subject);
        let named = match &self.ops {
            Some(text) => ops_of(text).expect("checked by the parser").1,
            None => Vec::new(),
        };
        if !named.is_empty() {
            let declared: Vec<String> =
                settings.custom.iter().map(|d| d.name.to_string()).collect();
            if let Some(unknown) = named.iter().find(|n| !declared.contains(n)) {
                return Err(UsageError(format!(
                    "--ops names `{unknown}`, which {} does not declare (its own operations: {})",
                    subject.name(),
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.join(", ")
                    }
                )));
            }
            settings
                .custom
                .retain(|d| named.iter().any(|n| n == d.name.as_str()));
        }
        Ok(settings)
    }

    pub(super) fn settings(&self) -> Settings {
        Settings {
            ops: self
                .ops
                .as_deref()
                .map(|text| ops_of(text).expect("checked by the parser").0),
            faults: match self.faults {
                FaultChoice::Swarm => FaultMode::Swarm,
                FaultChoice::All => FaultMode::Fixed(FaultConfig::all()),
                FaultChoice::None => FaultMode::Fixed(FaultConfig::none()),
            },
            strategy: self.strategy(),
            shape: crate::scenario::workload::WorkloadShape {
                shared_workdirs: self.shared_workdirs,
                ..Default::default()
            },
            opt_in: self.also.iter().fold(FaultConfig::none(), |faults, name| {
                faults.with_opt_in(name).expect("checked by the parser")
            }),
            version: if self.ms_steps {
                crate::scenario::spec::STEPPING_VERSION
            } else {
                crate::scenario::spec::VERSION
            },
            timing: crate::Timing {
                turn_ms: self.turn_ms,
                ..crate::Timing::default()
            },
            ..Settings::default()
        }
    }

    /// The flags that reproduce this generation in a replay command.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.ms_steps {
            flags.push_str(" --ms-steps");
        }
        if self.shared_workdirs {
            flags.push_str(" --shared-workdirs");
        }
        if let Some(ms) = self.turn_ms {
            flags.push_str(&format!(" --turn-ms {ms}"));
        }
        for name in &self.also {
            flags.push_str(&format!(" --also {name}"));
        }
        if let Some(ops) = &self.ops {
            flags.push_str(&format!(" --ops {ops}"));
        }
        match self.faults {
            FaultChoice::Swarm => {}
            FaultChoice::All => flags.push_str(" --faults all"),
            FaultChoice::None => flags.push_str(" --faults none"),
        }
        flags.push_str(&self.strategy().flags());
        flags
    }

    pub(super) fn origin(&self, seed: u64) -> Origin {
        Origin::Seed {
            seed,
            flags: self.flags(),
        }
    }
}

pub(super) fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text.split_once("..").ok_or_else(|| {
        format!("`{text}` is not a seed range; write it as START..END, such as 0..1000")
    })?;
    let number = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| {
            format!(
                "`{s}` in `{text}` is not a seed (a whole number from 0 to {})",
                u64::MAX
            )
        })
    };
    let (start, end) = (number(start)?, number(end)?);
    if start >= end {
        return Err(format!(
            "seed range {start}..{end} is empty: END must be greater than START"
        ));
    }
    Ok(start..end)
}

/// Usage errors on one line, so CI logs and scripts show the whole of it.
pub(super) fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
