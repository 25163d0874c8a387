//! The tools report a failing test by catching its panic; the default hook would print each
//! one. `Quiet` silences panics while a campaign runs and puts the previous hook back when
//! dropped, also when the campaign itself panics (so the bench's own report of that panic is
//! not silenced too). The last message is kept: it is what a campaign that broke died of.

use std::panic::PanicHookInfo;
use std::sync::Mutex;

static LAST: Mutex<Option<String>> = Mutex::new(None);

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

pub struct Quiet {
    previous: Option<Hook>,
}

impl Quiet {
    pub fn new() -> Self {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| {
            let message = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_string(),
                None => info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default(),
            };
            let at = info
                .location()
                .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
            *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{message}{at}"));
        }));
        Self {
            previous: Some(previous),
        }
    }

    /// The last panic a quiet campaign had, with where it was raised.
    pub fn last() -> Option<String> {
        LAST.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            std::panic::set_hook(previous);
        }
    }
}
