//! The coverage catalogs of the built-in subjects: the points each model's code declares, and
//! the points it cannot reach, each with the reason (the README lists them too).

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

pub(super) fn of(model: Model) -> Catalog {
    match model {
        Model::Legacy => callers_wait(Catalog::new(lifecycle_models::points::legacy())),
        Model::AbortToken => callers_wait(Catalog::new(lifecycle_models::points::abort_token())),
        Model::StartLock => callers_wait(Catalog::new(lifecycle_models::points::start_lock())),
        Model::Owned => Catalog::new(agent_lifecycle::point::POINTS.iter().copied()),
    }
}
