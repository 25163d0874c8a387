//! The run's one stream of events (an operation issued by the container, returned or dropped,
//! a server closed) is drained at every look, in every world: however long a run is, what
//! waits for a look stays one look's worth. (System runs once judged closes never, and their
//! list of closes grew all run.)

use lifecycle_sim::system::scenario::{Families, SystemSpec};
use lifecycle_sim::system::town::TownPolicy;
use lifecycle_sim::{FaultConfig, FaultMode, Model, Scenario, Settings, Subject};

/// A look's worth: more events than one look ever sees in these runs would mean a look
/// missed them.
const ONE_LOOK: usize = 16;

#[test]
fn a_system_runs_event_stream_is_drained_at_every_look() {
    let (mut reported, mut most) = (0, 0);
    for seed in 0..12 {
        let spec = SystemSpec::from_seed(seed, TownPolicy::Fenced, Families::All);
        let outcome = Model::Owned.run_system(&spec, seed).expect("owned runs");
        assert!(
            outcome.events.most_pending <= ONE_LOOK,
            "seed {seed}: {} events waited for one look",
            outcome.events.most_pending
        );
        reported += outcome.events.reported;
        most = most.max(outcome.events.most_pending);
    }
    // The stream carried far more than ever waited: it was drained as the runs went.
    assert!(
        reported > 10 * most as u64,
        "{reported} events in all, {most} at once"
    );
}

#[test]
fn a_scenarios_event_stream_is_drained_at_every_look() {
    let settings = Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    };
    let (mut reported, mut most) = (0, 0);
    for seed in 0..40 {
        let outcome = Scenario::from_seed(&settings, seed).run(&Model::Owned);
        assert!(outcome.events.most_pending <= ONE_LOOK);
        reported += outcome.events.reported;
        most = most.max(outcome.events.most_pending);
    }
    assert!(
        reported > 10 * most as u64,
        "{reported} events in all, {most} at once"
    );
}
