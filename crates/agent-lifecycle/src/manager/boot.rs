//! What outlives a container: the registry of the agents it runs, and boot hydration, which
//! starts them again in the next container.

use std::sync::Arc;

use super::start::{Origin, start};
use super::{Inner, State, first_error, join_all};
use crate::backend::SessionBackend;
use crate::lifecycle::{LifecycleError, StartRequest, Status};

/// Where an entry's prompt ends and its configuration begins: `StartRequest` has no field for
/// it, and the registry is all the next boot gets. The last marker counts.
const CONFIG_MARK: &str = "\n[agent-config] ";

/// The start request the registry keeps for `request` run with `config`.
fn entry(request: &StartRequest, config: Option<&str>) -> StartRequest {
    let mut entry = request.clone();
    if let Some(config) = config {
        entry.prompt = format!("{}{CONFIG_MARK}{config}", request.prompt);
    }
    entry
}

/// A registry entry as the request it started, and its configuration.
fn parse(mut entry: StartRequest) -> (StartRequest, Option<String>) {
    match entry.prompt.rfind(CONFIG_MARK) {
        Some(at) => {
            let config = entry.prompt[at + CONFIG_MARK.len()..].to_owned();
            entry.prompt.truncate(at);
            (entry, Some(config))
        }
        None => (entry, None),
    }
}

/// The requests of the agents the manager runs or is about to run again, in agent order.
pub(super) fn registry(state: &State) -> Vec<StartRequest> {
    state
        .agents
        .values()
        .filter_map(|a| match (&a.wanted, &a.record) {
            // Between the end of its old record and its new one: meant to run.
            (Some(w), _) => Some(entry(&w.request, w.config.as_deref())),
            (None, Some(r)) if matches!(r.status, Status::Starting | Status::Running) => {
                Some(entry(&r.request, r.config.as_deref()))
            }
            _ => None,
        })
        .collect()
}

/// A hydration, run in a task of its own ([`detached`]): each entry a start of its own, all at
/// once, so nothing waits for the whole of it.
///
/// [`detached`]: crate::detached
pub(super) async fn hydrate<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    registry: Vec<StartRequest>,
) -> Result<(), LifecycleError> {
    // Each start refuses on its own once an eviction began (`Evicting`).
    let starts = registry.into_iter().map(|entry| {
        let (request, config) = parse(entry);
        start(inner.clone(), request, config, Origin::Hydration)
    });
    first_error(join_all(starts).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{AgentId, Workdir};

    #[test]
    fn an_entry_gives_back_its_request_and_config() {
        let request = StartRequest {
            agent: AgentId::new("a0"),
            workdir: Workdir::new("w"),
            prompt: "go".into(),
        };
        assert_eq!(parse(entry(&request, None)), (request.clone(), None));
        let with = entry(&request, Some("model-b"));
        assert_ne!(with.prompt, request.prompt);
        assert_eq!(parse(with), (request, Some("model-b".into())));
    }
}
