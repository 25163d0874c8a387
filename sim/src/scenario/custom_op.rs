//! A subject's own operations, as a workload names them: an interned name (so that an
//! operation stays `Copy` and a case file writes it as text), one call of one, and what the
//! generator knows of one.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::workload::AgentIx;

/// The name of a custom operation, interned: an operation stays `Copy`, and a case file
/// names it as text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpName(&'static str);

impl OpName {
    /// The name `name`, interned once per distinct name (the set of names a process sees is
    /// the set its subjects declare and its case files use).
    pub fn new(name: &str) -> Self {
        static NAMES: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&known) = names.get(name) {
            return Self(known);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        Self(leaked)
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for OpName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for OpName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Self::new(&name))
    }
}

/// One call of a custom operation: which, about which agent, with which argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomOp {
    /// The operation, by its declared name.
    pub name: OpName,
    /// The agent it concerns, if it concerns one.
    pub agent: Option<AgentIx>,
    /// Its argument, drawn below the operation's declared count (0 when it takes none).
    pub arg: u8,
}

/// What a generator needs to know of a custom operation: the rest (how it is invoked) is the
/// subject's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpDecl {
    /// Its name: not one of the built-in operations', one word.
    pub name: OpName,
    /// Whether it concerns one agent (drawn like a stop's) or the container.
    pub per_agent: bool,
    /// How many distinct arguments it takes (`0..args` is drawn; 0 or 1: none).
    pub args: u8,
    /// Its weight among the drawn kinds (a plain start weighs 4, a stop 2, an eviction 1).
    pub weight: u32,
}
