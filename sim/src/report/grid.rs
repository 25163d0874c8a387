//! The state × operation map of a campaign: for each arriving operation and the status of its
//! agent's record (rows), and the agent's backend call in flight when it arrived (columns), in
//! how many scenarios that happened. A `.` is a combination the campaign never produced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use agent_lifecycle::Status;
use serde::{Deserialize, Serialize};

use crate::run::state_op::Key;
use crate::scenario::workload::CallKind;

const STATUSES: [Option<Status>; 6] = [
    None,
    Some(Status::Starting),
    Some(Status::Running),
    Some(Status::Stopping),
    Some(Status::Exited),
    Some(Status::Failed),
];

/// One cell of the map, as the JSON report keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// The operation that arrived (`start`, `stop`, `evict`).
    pub operation: String,
    /// The agent's record status, or `none`.
    pub status: String,
    /// The agent's backend call in flight, or `none`.
    pub call: String,
    /// In how many scenarios it arrived so.
    pub scenarios: u64,
}

fn status_name(status: Option<Status>) -> String {
    status.map_or("none".into(), |s| format!("{s:?}"))
}

/// The map's cells that a campaign produced, with the scenarios that produced each.
pub fn cells(map: &BTreeMap<Key, u64>) -> Vec<Cell> {
    map.iter()
        .map(|(k, n)| (*k, *n))
        .map(|((operation, status, call), scenarios)| Cell {
            operation: operation.into(),
            status: status_name(status),
            call: call.map_or("none".into(), |c| c.to_string()),
            scenarios,
        })
        .collect()
}

/// The map as the HTML page's heat map: one row per operation and record status, one column
/// per backend call in flight (the first, `none`, for no call).
#[derive(Debug, Serialize)]
pub(crate) struct HeatMap {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<HeatRow>,
}

/// One row of the heat map: in how many scenarios each column's combination arrived.
#[derive(Debug, Serialize)]
pub(crate) struct HeatRow {
    pub(crate) label: String,
    pub(crate) counts: Vec<u64>,
}

/// The heat map of a report's cells. Start and stop always have a row per status, and so
/// does any other operation that met a record or a call; the rest (evict, refresh, reboot)
/// one row.
pub(crate) fn heat_map(cells: &[Cell]) -> HeatMap {
    let columns: Vec<String> = std::iter::once("none".to_string())
        .chain(CallKind::ALL.iter().map(|c| c.to_string()))
        .collect();
    let mut operations: Vec<&str> = vec!["start", "stop"];
    let mut others: Vec<&str> = cells
        .iter()
        .map(|c| c.operation.as_str())
        .filter(|op| !["start", "stop", "evict"].contains(op))
        .collect();
    others.sort();
    others.dedup();
    operations.extend(others);
    operations.push("evict");
    let mut rows = Vec::new();
    for op in operations {
        let per_status = ["start", "stop"].contains(&op)
            || cells
                .iter()
                .any(|c| c.operation == op && (c.status != "none" || c.call != "none"));
        let statuses: Vec<String> = if per_status {
            STATUSES.iter().map(|s| status_name(*s)).collect()
        } else {
            vec!["none".into()]
        };
        for status in statuses {
            let counts = columns
                .iter()
                .map(|call| {
                    cells
                        .iter()
                        .filter(|c| {
                            (&c.operation, &c.status, &c.call) == (&op.to_string(), &status, call)
                        })
                        .map(|c| c.scenarios)
                        .sum()
                })
                .collect();
            let label = if per_status {
                format!("{op} {status}")
            } else {
                op.to_string()
            };
            rows.push(HeatRow { label, counts });
        }
    }
    HeatMap { columns, rows }
}

/// The map as a grid of text, one row per operation and status, one column per call kind.
pub fn grid(map: &BTreeMap<Key, u64>) -> String {
    let columns: Vec<Option<CallKind>> = std::iter::once(None)
        .chain(CallKind::ALL.into_iter().map(Some))
        .collect();
    let header: Vec<String> = columns
        .iter()
        .map(|c| c.map_or("no call".into(), |c| c.to_string()))
        .collect();
    let width = header.iter().map(String::len).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = write!(out, "{:<18}", "operation on");
    for h in &header {
        let _ = write!(out, " {h:>width$}");
    }
    out.push('\n');
    let mut rows: Vec<(&'static str, Option<Status>)> = Vec::new();
    for op in ["start", "stop"] {
        rows.extend(STATUSES.iter().map(|s| (op, *s)));
    }
    rows.push(("evict", None));
    for (op, status) in rows {
        let label = if op == "evict" {
            "evict".to_string()
        } else {
            format!("{op} {}", status_name(status))
        };
        let _ = write!(out, "{label:<18}");
        for call in &columns {
            let n = map.get(&(op, status, *call)).copied().unwrap_or(0);
            let cell = if n == 0 {
                ".".to_string()
            } else {
                n.to_string()
            };
            let _ = write!(out, " {cell:>width$}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::state_op::{StateOp, key};

    #[test]
    fn the_grid_counts_each_cell_and_dots_the_ones_never_produced() {
        let during_create = |busy| StateOp::Start {
            status: Some(Status::Starting),
            busy,
            call: Some(CallKind::CreateSession),
        };
        // Two pairs that differ only in how many operations were in flight share a cell.
        assert_eq!(key(&during_create(1)), key(&during_create(2)));
        let mut map = BTreeMap::new();
        map.insert(key(&during_create(1)), 5);
        map.insert(key(&StateOp::Evict { in_flight: 0 }), 7);
        let text = grid(&map);
        let row = text
            .lines()
            .find(|l| l.starts_with("start Starting"))
            .unwrap();
        assert!(row.split_whitespace().any(|c| c == "5"), "{text}");
        let stop_row = text
            .lines()
            .find(|l| l.starts_with("stop Running"))
            .unwrap();
        assert!(
            stop_row.split_whitespace().skip(2).all(|c| c == "."),
            "{text}"
        );
        assert_eq!(
            cells(&map)[0],
            Cell {
                operation: "evict".into(),
                status: "none".into(),
                call: "none".into(),
                scenarios: 7
            }
        );
    }
}
