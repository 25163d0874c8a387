//! Panics in the container. A panic in a tokio task is caught by the runtime, which only
//! ends the task: the operation it ran never returns. So a process-wide panic hook, installed
//! once, records the message and location of a panic on a thread that is running container
//! code (a thread-local flag, set around each simulation step and each snapshot) instead of
//! printing it; the driver turns it into a [`Invariant::Panic`] violation at that step. Each
//! scenario runs on one thread (`--jobs N` runs N threads), so thread-locals keep scenarios
//! apart. Any other panic goes to the hook that was there before (tests, fuzz targets).

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use agent_lifecycle::Snapshot;

use crate::check::{Invariant, Violation};
use crate::world::World;
use crate::world::backend::current_op;

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CAPTURING.try_with(Cell::get).unwrap_or(false) {
                return previous(info);
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_string());
            let location = info
                .location()
                .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            // Operation tasks carry their operation; tasks the manager spawned do not.
            let task = current_op()
                .map(|(op, _)| format!("op#{op}'s task"))
                .unwrap_or_else(|| "a task of the container".to_string());
            let text = format!("{task} panicked: '{message}'{location}");
            let _ = CAUGHT.try_with(|slot| {
                // The first panic is the finding; later ones are its consequences.
                slot.borrow_mut().get_or_insert(text);
            });
        }));
    });
}

/// Runs `f` (container code) with its panics recorded instead of printed.
pub fn capturing<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAPTURING.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CAPTURING.with(|c| c.replace(true)));
    f()
}

/// The panic recorded on this thread, if any, taken.
pub fn take() -> Option<String> {
    CAUGHT.with(|slot| slot.borrow_mut().take())
}

/// The panic recorded on this thread, as a violation.
pub fn violation() -> Option<Violation> {
    take().map(|text| Violation::new(Invariant::Panic, text, Vec::new()))
}

/// The manager's snapshot, with a panic in it recorded like any other panic of the container
/// (the next [`violation`] reports it).
pub fn snapshot_of(w: &World) -> Snapshot {
    let Some(f) = w.snapshot.as_ref() else {
        return Snapshot::default();
    };
    capturing(|| catch_unwind(AssertUnwindSafe(|| f()))).unwrap_or_default()
}
