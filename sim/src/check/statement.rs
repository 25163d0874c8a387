//! What each invariant requires, in a sentence or two: for reports a person reads (the HTML
//! page shows it beside the violation).

use super::Invariant;

impl Invariant {
    /// What it requires, in a sentence or two (its definition in `docs/invariants.md`,
    /// shortened), for reports a person reads.
    pub fn statement(self) -> &'static str {
        match self {
            Self::I1 => {
                "Every live session is a live record's session or belongs to a start still in flight; once settled, the sessions tracked are exactly the live ones; after the final stop nothing is live."
            }
            Self::I2 => "At most one live session per agent.",
            Self::I3 => {
                "No reference count is negative; with nothing in flight a server counts exactly the sessions tracked on it; a server is never closed under a Starting or Running record's session; after the final stop no server runs."
            }
            Self::I4 => "A server never counts fewer than the live sessions tracked on it.",
            Self::I5 => {
                "Once stop(a) returns, no session of a from an operation issued before it is live; no timer or event stream of an ended record runs on."
            }
            Self::I6 => "A start that returns cancelled leaves no session behind.",
            Self::I7 => {
                "When evict returns Ok, no session is live, no server runs and no earlier start is in flight; when it returns Err, nothing is untracked."
            }
            Self::I8 => {
                "A record's status only moves forward: Starting, Running, Stopping, Exited or Failed."
            }
            Self::L1 => {
                "Every operation returns within the bound, and background work ends once the faults heal."
            }
            Self::L2 => {
                "With the faults off, a start nothing superseded ends Running, and a stop leaves its agent Exited with nothing live."
            }
            Self::L3 => {
                "With the faults off, an agent whose session stayed idle past its idle timeout has exited."
            }
            Self::L4 => "An eviction returns within the drain grace.",
            Self::L5 => {
                "A start whose initial prompt reached the server shows its record Running while the turn is still under way."
            }
            Self::L6 => {
                "A Running record's session ends only through an operation, the manager's background work, a crash or the container's death."
            }
            Self::Panic => "No task of the container panics.",
            Self::User(_) => "An invariant the subject declares of its own.",
            Self::S1 => "Never two live sessions of one agent at the same instant, anywhere.",
            Self::S2 => {
                "After convergence, every agent the town believes working has exactly one live session and was heard from recently, and no agent it believes idle has one."
            }
            Self::S3 => {
                "A dispatch the town wrote off as failed, and followed with another, never took effect in the container."
            }
            Self::S4 => {
                "Boot hydration after an eviction never starts an agent whose stop the container acknowledged."
            }
        }
    }
}
