//! The town's own HTTP API, as far as the container calls it: heartbeats.

use axum::Json;
use axum::routing::post;
use control_server::Heartbeat;

use super::town::{SharedTown, lock_town};

pub fn api(town: SharedTown) -> axum::Router {
    axum::Router::new().route(
        "/agents/{id}/heartbeat",
        post(move |Json(beat): Json<Heartbeat>| {
            let town = town.clone();
            async move {
                let now = turmoil::sim_elapsed().map_or(0, |e| e.as_millis() as u64);
                lock_town(&town).heard(&beat, now);
                Json(serde_json::json!({ "ok": true }))
            }
        }),
    )
}
