//! The wire format of the control API (JSON bodies).

use agent_lifecycle::{AgentSnapshot, Status};
use serde::{Deserialize, Serialize};

/// `POST /agents/start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartBody {
    pub agent: String,
    pub workdir: String,
    pub prompt: String,
    /// The dispatch this start belongs to: a start whose dispatch the agent is already
    /// serving (a retry of the same dispatch) does not start the agent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<String>,
}

/// The answer to a start that the container accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartReply {
    pub agent: String,
    /// `started`, or `already-serving` when the dispatch was a retry of the one running.
    pub outcome: String,
}

/// `GET /agents/{id}/status`: the agent's current record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub agent: String,
    /// `starting`, `running`, `stopping`, `exited` or `failed`.
    pub status: String,
    /// Which start made this record.
    pub incarnation: u64,
    pub session: Option<String>,
}

impl AgentState {
    pub fn of(record: &AgentSnapshot) -> Self {
        Self {
            agent: record.agent.to_string(),
            status: status_name(record.status).to_string(),
            incarnation: record.incarnation,
            session: record.session.map(|s| s.to_string()),
        }
    }
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Starting => "starting",
        Status::Running => "running",
        Status::Stopping => "stopping",
        Status::Exited => "exited",
        Status::Failed => "failed",
    }
}

/// Any error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `evicting`, `cancelled`, `backend`, `not-found` or `bad-request`.
    pub error: String,
    pub detail: String,
}

/// `POST /agents/{id}/heartbeat` to the town: the agent has a record in this container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent: String,
    /// `starting` or `running`.
    pub status: String,
    pub incarnation: u64,
    /// Which boot of the container sent it (a new one after every restart).
    pub container: String,
}
