//! What `explore` shows while it runs.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::explore::Progress;
use crate::subject::Subject;
use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on a terminal; a plain line every 10 s otherwise.
pub(super) struct ProgressView {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl ProgressView {
    pub(super) fn new(model: &dyn Subject) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(model.name().to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
        }
    }

    pub(super) fn update(&mut self, model: &dyn Subject, p: &Progress) {
        let rate = p.scenarios as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let text = format!(
            "{} scenarios, {rate:.0}/s, {} failures",
            p.scenarios, p.failures
        );
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                self.last_line = Instant::now();
                eprintln!("{model}: {text}, {:.0} s", p.elapsed.as_secs_f64());
            }
            None => {}
        }
    }

    pub(super) fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    pub(super) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
