//! What an answer *was*, reduced to what a fake backend must reproduce.
//!
//! A raw answer carries ids, timestamps, token counts and texts that change on every run; the
//! harness's fake only needs its class: which status, which body shape, which error name, which
//! events in which order. [`Answer`] is that class for one HTTP exchange, [`reduce_events`] and
//! [`EventFacts`] are it for an event sequence. These are what the record files hold under
//! `stable` (compared run to run); anything timing-dependent goes under `noise`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{End, Event, Exchange};

/// The class of one HTTP answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind")]
pub enum Answer {
    /// A message body `{info, parts}` (a prompt's answer).
    Message {
        status: u16,
        role: Option<String>,
        error_name: Option<String>,
        finish: Option<String>,
    },
    /// A `Session.Info` (`id` present); `id_prefix` is its first three characters.
    Session { status: u16, id_prefix: String },
    /// A JSON array (a list).
    List { status: u16 },
    /// A status of 400 or more with a body: `name` is the JSON `name`, else the JSON `error`
    /// string, else `text:` and the start of a text body.
    Error { status: u16, name: Option<String> },
    /// Any other JSON: booleans as they are, `{}` as it is, other objects as `"object"`.
    Json { status: u16, value: Value },
    /// A complete answer with an empty body; `content_length` tells `Content-Length: 0` from an
    /// empty chunked body (the SDK resolves the first and throws on the second).
    EmptyBody {
        status: u16,
        content_length: Option<u64>,
    },
    /// The connection failed or was closed before the answer ended; `status` is set when the
    /// status line had arrived.
    ConnectionLost { status: Option<u16> },
    /// No answer within the bound.
    NoAnswer { status: Option<u16> },
}

impl Answer {
    /// Classifies an exchange.
    pub fn of(ex: &Exchange) -> Answer {
        match (&ex.end, ex.status) {
            (End::Lost(_), status) => return Answer::ConnectionLost { status },
            (End::TimedOut, status) => return Answer::NoAnswer { status },
            (End::Complete, None) => return Answer::ConnectionLost { status: None },
            (End::Complete, Some(_)) => {}
        }
        let status = ex.status.unwrap_or_default();
        if ex.body.is_empty() {
            return Answer::EmptyBody {
                status,
                content_length: ex.content_length,
            };
        }
        let Some(value) = ex.json() else {
            let text = String::from_utf8_lossy(&ex.body);
            let head: String = text.chars().take(40).collect();
            return if status >= 400 {
                Answer::Error {
                    status,
                    name: Some(format!("text:{head}")),
                }
            } else {
                Answer::Json {
                    status,
                    value: json!(format!("text:{head}")),
                }
            };
        };
        if status >= 400 {
            let name = value["name"]
                .as_str()
                .or_else(|| value["error"].as_str())
                .map(str::to_string);
            return Answer::Error { status, name };
        }
        if value.get("info").is_some() {
            let info = &value["info"];
            let s = |v: &Value| v.as_str().map(str::to_string);
            return Answer::Message {
                status,
                role: s(&info["role"]),
                error_name: s(&info["error"]["name"]),
                finish: s(&info["finish"]),
            };
        }
        if let Some(id) = value["id"].as_str() {
            return Answer::Session {
                status,
                id_prefix: id.chars().take(3).collect(),
            };
        }
        if value.is_array() {
            return Answer::List { status };
        }
        let value = match &value {
            Value::Object(map) if !map.is_empty() => json!("object"),
            other => other.clone(),
        };
        Answer::Json { status, value }
    }

    /// The message id of a message answer (`info.id`), for "same message?" questions.
    pub fn message_id(ex: &Exchange) -> Option<String> {
        ex.json()
            .and_then(|v| v["info"]["id"].as_str().map(str::to_string))
    }
}

/// Event types left out of reduced sequences: streaming detail whose count depends on chunking.
const DETAIL: [&str; 6] = [
    "message.part.delta",
    "message.part.updated",
    "message.part.removed",
    "sync",
    "session.diff",
    "server.heartbeat",
];

/// One event as a short string: `type`, plus `(status)` for `session.status`, `[Error]` for
/// `session.error`, `{role}` for `message.updated`.
pub fn event_label(e: &Event) -> String {
    let mut s = e.kind.clone();
    if let Some(status) = e.status() {
        s.push_str(&format!("({status})"));
    }
    if e.kind == "session.error" {
        s.push_str(&format!("[{}]", e.error_name().unwrap_or("-")));
    }
    if e.kind == "message.updated" {
        let info = &e.properties["info"];
        s.push_str(&format!("{{{}", info["role"].as_str().unwrap_or("?")));
        if let Some(finish) = info["finish"].as_str() {
            s.push_str(&format!(",{finish}"));
        }
        if let Some(err) = info["error"]["name"].as_str() {
            s.push_str(&format!(",err={err}"));
        }
        s.push('}');
    }
    s
}

/// A sequence of events as labels, streaming detail left out, runs of the same label collapsed.
pub fn reduce_events(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| !DETAIL.contains(&e.kind.as_str())) {
        let label = event_label(e);
        if out.last() != Some(&label) {
            out.push(label);
        }
    }
    out
}

/// The facts of a session's event sequence that do not depend on timing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct EventFacts {
    /// Whether `session.idle` was published.
    pub idle: bool,
    /// The `session.error` names, in order, each once.
    pub errors: Vec<String>,
    /// The distinct `session.status` types, in order of first appearance.
    pub statuses: Vec<String>,
    /// Whether the first `session.idle` came before the first `session.error` (None without
    /// both).
    pub idle_before_error: Option<bool>,
}

impl EventFacts {
    /// The facts of `events` (already filtered to one session).
    pub fn of(events: &[Event]) -> EventFacts {
        let mut facts = EventFacts::default();
        let first = |kind: &str| events.iter().position(|e| e.kind == kind);
        facts.idle = first("session.idle").is_some();
        for e in events {
            if e.kind == "session.error" {
                let name = e.error_name().unwrap_or("-").to_string();
                if !facts.errors.contains(&name) {
                    facts.errors.push(name);
                }
            }
            if let Some(status) = e.status()
                && e.kind == "session.status"
                && !facts.statuses.iter().any(|s| s == status)
            {
                facts.statuses.push(status.to_string());
            }
        }
        if let (Some(idle), Some(error)) = (first("session.idle"), first("session.error")) {
            facts.idle_before_error = Some(idle < error);
        }
        facts
    }
}
