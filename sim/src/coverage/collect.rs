//! Hearing the coverage points a manager passes ([`agent_lifecycle::point!`]): while a
//! scenario runs, this thread's `tracing` dispatcher is a tee that records every point event
//! and hands everything else to the subscriber that was in effect (the `RUST_LOG` output, a
//! user's own), so logs keep working while points are heard.

use std::cell::RefCell;
use std::collections::BTreeSet;

use agent_lifecycle::point::POINT_TARGET;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

thread_local! {
    /// The points heard on this thread since [`recording`] began (one simulation a thread).
    static HEARD: RefCell<Option<BTreeSet<&'static str>>> = const { RefCell::new(None) };
    /// This thread's tee, made at its first run around the dispatcher in effect then.
    static TEE: Dispatch = Dispatch::new(Tee {
        inner: tracing::dispatcher::get_default(Dispatch::clone),
    });
}

/// Runs `f`, and returns with its result the points passed while it ran on this thread.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, BTreeSet<&'static str>) {
    let outer = HEARD.with(|h| h.borrow_mut().replace(BTreeSet::new()));
    let result = TEE.with(|tee| tracing::dispatcher::with_default(tee, f));
    let heard = HEARD.with(|h| std::mem::replace(&mut *h.borrow_mut(), outer));
    (result, heard.unwrap_or_default())
}

fn is_point(metadata: &Metadata<'_>) -> bool {
    metadata.target() == POINT_TARGET
}

struct Tee {
    inner: Dispatch,
}

impl Subscriber for Tee {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_point(metadata) {
            Interest::always()
        } else {
            self.inner.register_callsite(metadata)
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // Points are TRACE events.
        Some(LevelFilter::TRACE)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_point(metadata) || self.inner.enabled(metadata)
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if is_point(metadata) {
            let name = metadata.name();
            HEARD.with(|h| {
                if let Some(heard) = h.borrow_mut().as_mut() {
                    heard.insert(name);
                }
            });
        } else {
            self.inner.event(event);
        }
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }
}
