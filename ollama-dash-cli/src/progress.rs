//! Progress of a transfer: an indicatif bar on a terminal, plain lines on stderr otherwise (a
//! line when the step changes and at every tenth of the way), so logs stay readable.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::human;
use crate::output::note;

/// Where a transfer is, for display.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Step {
    /// What is being done (`pulling 6a0746a1ec1a`, `uploading`).
    pub(crate) status: String,
    /// Bytes done.
    pub(crate) done: u64,
    /// Bytes in all (0: not known yet).
    pub(crate) total: u64,
    /// Bytes per second, when the server measured it.
    pub(crate) bytes_per_sec: Option<f64>,
    /// Seconds left, when the server estimated it.
    pub(crate) eta_secs: Option<f64>,
}

/// A progress display for one transfer.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// The status and tenth last printed as a plain line.
    printed: Option<(String, u64)>,
}

impl Progress {
    /// A bar when stderr is a terminal, else plain lines; `hidden` shows nothing at all.
    pub(crate) fn new(hidden: bool) -> Self {
        let bar = (!hidden && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:24} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            printed: hidden.then(|| (String::new(), u64::MAX)),
        }
    }

    /// Shows `step`.
    pub(crate) fn update(&mut self, step: &Step) {
        if let Some(bar) = &self.bar {
            bar.set_message(step.status.clone());
            bar.set_length(step.total.max(step.done));
            bar.set_position(step.done);
            return;
        }
        if matches!(&self.printed, Some((_, u64::MAX))) {
            return;
        }
        let tenth = (step.done * 10).checked_div(step.total).unwrap_or(0);
        if self.printed.as_ref() == Some(&(step.status.clone(), tenth)) {
            return;
        }
        self.printed = Some((step.status.clone(), tenth));
        note(&self.plain(step));
    }

    /// `pulling 6a07…: 40% (540 MB/1.3 GB, 120 MB/s, eta 6s)`.
    fn plain(&self, step: &Step) -> String {
        if step.total == 0 {
            return step.status.clone();
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let speed = step
            .bytes_per_sec
            .or_else(|| (elapsed > 0.0).then(|| step.done as f64 / elapsed))
            .filter(|s| *s > 0.0);
        let eta = step
            .eta_secs
            .or_else(|| speed.map(|s| step.total.saturating_sub(step.done) as f64 / s));
        let mut text = format!(
            "{}: {}% ({}/{}",
            step.status,
            step.done * 100 / step.total,
            human::bytes(step.done),
            human::bytes(step.total)
        );
        if let Some(speed) = speed {
            text.push_str(&format!(", {}/s", human::bytes(speed as u64)));
        }
        if let Some(eta) = eta {
            text.push_str(&format!(", eta {}", human::eta(eta)));
        }
        text.push(')');
        text
    }

    /// Removes the bar (plain lines stay as printed).
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
