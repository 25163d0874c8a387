//! The coverage catalogs of the built-in subjects: the points each model's code declares, and
//! the points it cannot reach, each with the reason (docs/coverage-and-mutation.md lists them too).

use crate::coverage::Catalog;
use crate::coverage::world::WORLD_POINTS;

use super::Model;

/// A subject whose callers always wait never has an operation dropped.
pub(super) fn callers_wait(mut catalog: Catalog) -> Catalog {
    for point in WORLD_POINTS.iter().filter(|p| p.starts_with("world.drop.")) {
        catalog = catalog.unreachable(
            point,
            "its callers always wait: a JS handler runs to its end whatever its client does",
        );
    }
    catalog
}

/// What every historical model cannot reach.
fn historical(catalog: Catalog) -> Catalog {
    callers_wait(catalog)
        .unreachable(
            "world.evict.during_start.subscribe",
            "the subscription is `void subscribeToEvents(...)`: the stream's own task, not a step of the start",
        )
}

const ALWAYS_COUNTED: &str = "ensureSDKServer maps the instance and returns, and the start counts in the same synchronous turn (check 1 has no await): an instance is always mapped";

/// What POST and LATEST cannot reach, besides [`historical`]. (`idleTimer.fired_on_not_running`
/// is reachable: they arm the timer only after the awaited nudge fetch [3rd], so a stop can
/// clear the agent's timer before it is armed.)
fn post(catalog: Catalog) -> Catalog {
    historical(catalog)
        .unreachable("startAgentImpl.not_counted", ALWAYS_COUNTED)
        .unreachable(
            "exitAgent.not_running",
            "exitAgent runs right after its timer found the record Running, in the same turn; only the drain's re-armed timer checks one record and exits another [2nd], and they differ only if a timer of an older record outlived a restart. Since the timer is armed after the awaited nudge fetch [3rd] an older record's timer can be armed after a restart, so this is reachable in principle (a late arming, then a drain while the new record runs); no sweep has reached it, and the coverage test will say when one does",
        )
}

/// Why a refresh never resumes a listed session in the fake.
const SESSIONS_DIE_WITH_SERVER: &str = "the real new server reads the workdir's kilo.db and lists the old sessions; the fake's sessions die with their server, so the refresh's session.list on the new server finds none (docs/findings.md, what the fake cannot yet say)";

pub(super) fn of(model: Model) -> Catalog {
    use lifecycle_models::points;
    const START_LOCK: &str = "the start lock holds each start through its initial prompt [2nd]: a start never meets a record another start left Starting, nor a newer record in the abort path";
    match model {
        Model::Legacy => historical(Catalog::new(points::legacy()))
            .unreachable("startAgent.not_counted", ALWAYS_COUNTED)
            .unreachable(
                "exitAgent.not_running",
                "exitAgent runs right after its timer found the record Running, in the same turn (PRE has no drain to re-arm a timer)",
            ),
        Model::AbortToken => post(Catalog::new(points::abort_token())),
        Model::StartLock => post(Catalog::new(points::start_lock()))
            .unreachable("startAgentImpl.aborted_previous_startup", START_LOCK)
            .unreachable("startAgentImpl.stopped_existing_starting", START_LOCK)
            .unreachable("startAgentImpl.abort_path_kept_newer_record", START_LOCK)
            .unreachable("refreshTokenForAllAgents.resumed_same_session", SESSIONS_DIE_WITH_SERVER)
            .unreachable(
                "refreshTokenForAllAgents.resumed_newest_listed",
                SESSIONS_DIE_WITH_SERVER,
            )
            .unreachable(
                "updateAgentModel.not_found",
                "the route answers 404 for an agent with no record before it waits at the hydration gate; only a record deleted while the update waits there reaches this, and no sweep of 60,000 scenarios with updates did; the coverage test will say when one does",
            ),
        // `teardown.stale_exit_ignored` is reached since restarts: an idle exit queued on the
        // turn behind a refresh or an update finds the restart's new incarnation.
        // `refresh.skipped_superseded` is reached since the record is Running during the
        // initial prompt: a refresh then waits for the start's turn, and a stop arriving
        // meanwhile supersedes the agent.
        Model::Owned => Catalog::new(agent_lifecycle::point::POINTS.iter().copied()),
    }
}
