//! Progress on stderr while a command waits on the tenant: the phase (reading N apps, applying N
//! changes) and live counts of Graph reads and writes, so a long run on a slow tenant is never a
//! silent terminal.
//!
//! Drawn only when stderr is a terminal (or `--progress always`): a pipeline's log gets nothing
//! from here, and `--progress never` turns it off. It shows counts and phases only, never a
//! name, value or answer from the tenant, and is cleared before anything else is printed.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::graph::GraphClient;

/// `--progress` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressChoice {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    Always,
    Never,
}

impl ProgressChoice {
    fn enabled(self) -> bool {
        match self {
            ProgressChoice::Auto => std::io::stderr().is_terminal(),
            ProgressChoice::Always => true,
            ProgressChoice::Never => false,
        }
    }
}

/// A spinner with the current phase and Graph's counters; does nothing when disabled.
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `phase` for a run on `client` (needs a tokio runtime).
    pub fn start(choice: ProgressChoice, client: &GraphClient, phase: String) -> Progress {
        if !choice.enabled() {
            return Progress {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(phase);
        bar.enable_steady_tick(Duration::from_millis(100));
        let shown = bar.clone();
        let client = client.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let stats = client.stats();
                shown.set_message(format!(
                    "{} reads, {} writes{}",
                    stats.reads,
                    stats.writes,
                    if stats.throttled > 0 {
                        format!(", {} throttled", stats.throttled)
                    } else {
                        String::new()
                    }
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    /// Clears the line, so what the command prints next starts on a clean terminal.
    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// "Reading 40 apps from the tenant".
pub fn reading(apps: usize) -> String {
    format!(
        "Reading {apps} app{} from the tenant",
        if apps == 1 { "" } else { "s" }
    )
}
