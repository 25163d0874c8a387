//! A workload as text: how a case file writes it (`"workdirs": "0 0 1"`, `"ops": ["start a0
//! at 5", "evict at 30"]`), and how an operation reads and prints.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::workload::{AgentIx, CallKind, CustomOp, Op, OpKind, OpMix, OpName, Trigger, Workload};

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start(a) => write!(f, "start a{a}"),
            Self::Stop(a) => write!(f, "stop a{a}"),
            Self::Evict => f.write_str("evict"),
            Self::Refresh => f.write_str("refresh"),
            Self::Update(a) => write!(f, "update a{a}"),
            Self::Reboot => f.write_str("reboot"),
            Self::Custom(c) => {
                write!(f, "{}", c.name)?;
                if let Some(a) = c.agent {
                    write!(f, " a{a}")?;
                }
                if c.arg > 0 {
                    write!(f, " {}", c.arg)?;
                }
                Ok(())
            }
        }
    }
}

/// A workload as a case file writes it: `"workdirs": "0 0 1"`, `"ops": ["start a0 at 5",
/// "stop a1 at 12", "start a0 while create_session a0", "evict at 30"]`.
#[derive(Serialize, Deserialize)]
pub(super) struct WorkloadText {
    workdirs: String,
    ops: Vec<String>,
    /// The kinds a generated workload was drawn with, as `start, stop`.
    #[serde(default)]
    mix: Option<String>,
}

impl From<Workload> for WorkloadText {
    fn from(w: Workload) -> Self {
        let workdirs: Vec<String> = w.workdirs.iter().map(u8::to_string).collect();
        Self {
            workdirs: workdirs.join(" "),
            ops: w.ops.iter().map(Op::to_string).collect(),
            mix: Some(w.mix.to_string()),
        }
    }
}

impl TryFrom<WorkloadText> for Workload {
    type Error = String;

    fn try_from(t: WorkloadText) -> Result<Self, String> {
        let workdirs = t
            .workdirs
            .split_whitespace()
            .map(|w| {
                w.parse::<u8>()
                    .map_err(|_| format!("`{w}` is not a workdir number"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let ops = t
            .ops
            .iter()
            .map(|op| op.parse())
            .collect::<Result<Vec<Op>, String>>()?;
        for op in &ops {
            if op
                .kind
                .agent()
                .is_some_and(|a| usize::from(a) >= workdirs.len())
            {
                return Err(format!("`{op}` names an agent the workload does not have"));
            }
        }
        Ok(Self {
            workdirs,
            ops,
            mix: match t.mix {
                Some(text) => text.parse()?,
                None => OpMix::all(),
            },
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.when {
            Trigger::At(t) => write!(f, "{} at {t}", self.kind),
            Trigger::WhilePending(call, a) => write!(f, "{} while {call} a{a}", self.kind),
        }
    }
}

/// Whether `word` can name a custom operation: one word of letters, digits, `-` and `_`,
/// starting with a letter, and none of the built-in operations' names or the trigger words.
pub fn is_custom_name(word: &str) -> bool {
    const TAKEN: [&str; 9] = [
        "start", "stop", "evict", "refresh", "update", "reboot", "at", "while", "custom",
    ];
    word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !TAKEN.contains(&word)
        && !(word.starts_with('a') && word[1..].parse::<u8>().is_ok())
}

fn parse_agent(word: &str) -> Result<AgentIx, String> {
    word.strip_prefix('a')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("`{word}` is not an agent (a0, a1, ...)"))
}

impl std::str::FromStr for Op {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (kind, rest) = match words.as_slice() {
            ["start", a, rest @ ..] => (OpKind::Start(parse_agent(a)?), rest),
            ["stop", a, rest @ ..] => (OpKind::Stop(parse_agent(a)?), rest),
            ["evict", rest @ ..] => (OpKind::Evict, rest),
            ["refresh", rest @ ..] => (OpKind::Refresh, rest),
            ["update", a, rest @ ..] => (OpKind::Update(parse_agent(a)?), rest),
            ["reboot", rest @ ..] => (OpKind::Reboot, rest),
            [name, rest @ ..] if is_custom_name(name) => {
                // A custom operation: `name [aN] [ARG] at MS`.
                let mut rest = rest;
                let agent = match rest {
                    [a, more @ ..] if a.starts_with('a') && parse_agent(a).is_ok() => {
                        rest = more;
                        Some(parse_agent(a)?)
                    }
                    _ => None,
                };
                let arg = match rest {
                    [n, more @ ..] if n.parse::<u8>().is_ok() => {
                        rest = more;
                        n.parse().expect("checked")
                    }
                    _ => 0,
                };
                let custom = CustomOp {
                    name: OpName::new(name),
                    agent,
                    arg,
                };
                (OpKind::Custom(custom), rest)
            }
            _ => {
                return Err(format!(
                    "`{text}` is not an operation (start aN, stop aN, evict, refresh, \
                     update aN, reboot, or a custom NAME [aN] [ARG])"
                ));
            }
        };
        let when = match rest {
            ["at", t] => Trigger::At(
                t.parse()
                    .map_err(|_| format!("`{t}` in `{text}` is not a time in ms"))?,
            ),
            ["while", call, a] => {
                let call = CallKind::ALL
                    .into_iter()
                    .find(|c| c.to_string() == *call)
                    .ok_or_else(|| format!("`{call}` in `{text}` is not a backend call"))?;
                Trigger::WhilePending(call, parse_agent(a)?)
            }
            _ => return Err(format!("`{text}` needs `at MS` or `while CALL aN`")),
        };
        Ok(Self { kind, when })
    }
}
