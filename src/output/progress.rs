//! Renders run events on stderr: numbered phases, a progress bar with live throughput / average
//! TTFT / average latency (only on a terminal), waiting status, warnings.
//!
//! Runs in its own task fed by an unbounded channel, so drawing never delays a request.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::events::{Event, Phase, TeardownOutcome};
use crate::text::printable_lines;

#[derive(Debug, Clone, Copy)]
pub struct ProgressOptions {
    /// stderr is a terminal: draw bars and spinners.
    pub tty: bool,
    /// Only warnings.
    pub quiet: bool,
    pub color: bool,
}

/// Running totals of the benchmark phase, for the live message.
#[derive(Debug, Default)]
struct Live {
    started: Option<Instant>,
    done: usize,
    total: usize,
    failed: usize,
    tokens: u64,
    ttft_sum: f64,
    ttft_n: usize,
    e2e_sum: f64,
    last_printed_tenth: usize,
}

impl Live {
    fn message(&self) -> String {
        let elapsed = self
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let tps = if elapsed > 0.0 {
            self.tokens as f64 / elapsed
        } else {
            0.0
        };
        let mut msg = format!("{tps:.1} tok/s");
        if self.ttft_n > 0 {
            msg.push_str(&format!(
                " | avg TTFT {:.0}ms",
                self.ttft_sum / self.ttft_n as f64
            ));
        }
        let ok = self.done - self.failed;
        if ok > 0 {
            msg.push_str(&format!(" | avg latency {:.0}ms", self.e2e_sum / ok as f64));
        }
        if self.failed > 0 {
            msg.push_str(&format!(" | {} failed", self.failed));
        }
        msg
    }
}

pub fn spawn_renderer(mut rx: UnboundedReceiver<Event>, opts: ProgressOptions) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut r = Renderer::new(opts);
        while let Some(event) = rx.recv().await {
            r.handle(event);
        }
        r.finish();
    })
}

struct Renderer {
    opts: ProgressOptions,
    bar: Option<ProgressBar>,
    spinner: Option<ProgressBar>,
    live: Live,
    last_wait_line: Option<Instant>,
    /// Result files written so far, listed when phase 4 starts.
    saved: Vec<(PathBuf, Option<usize>)>,
    warnings: WarningLog,
}

/// Identical warnings are shown once, then once more at the end with how often they came
/// (a full disk fails every journal line the same way).
#[derive(Debug, Default)]
struct WarningLog {
    seen: Vec<(String, usize)>,
}

impl WarningLog {
    /// Counts `msg`; true the first time it is seen.
    fn first_time(&mut self, msg: &str) -> bool {
        match self.seen.iter_mut().find(|(m, _)| m == msg) {
            Some((_, n)) => {
                *n += 1;
                false
            }
            None => {
                self.seen.push((msg.to_string(), 1));
                true
            }
        }
    }

    /// `msg (repeated N times)` for each warning that came more than once.
    fn repeated(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|(_, n)| *n > 1)
            .map(|(m, n)| format!("{m} (repeated {n} times)"))
            .collect()
    }
}

impl Renderer {
    fn new(opts: ProgressOptions) -> Self {
        Self {
            opts,
            bar: None,
            spinner: None,
            live: Live::default(),
            last_wait_line: None,
            saved: Vec::new(),
            warnings: WarningLog::default(),
        }
    }

    fn line(&self, text: &str) {
        if let Some(bar) = self.bar.as_ref().or(self.spinner.as_ref()) {
            bar.println(text);
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.opts.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Warn(msg) => self.warning(&printable_lines(&msg)),
            Event::ClientBusy { cpu_utilization } => self.warning(&format!(
                "The benchmark client used {:.0}% of the CPU: its own delay may be in the numbers",
                cpu_utilization * 100.0
            )),
            Event::Teardown(TeardownOutcome::Kept {
                provider,
                how_to_stop,
            }) => self.warning(&format!(
                "--keep-server: the {provider} server is still running; {how_to_stop}"
            )),
            // Remembered even when quiet: phase 4 lists them.
            Event::ResultSaved {
                path,
                iteration,
                samples,
                ..
            } => self.result_saved(path, iteration, samples),
            _ if self.opts.quiet => {}
            Event::PhaseStarted(phase) => self.phase_started(phase),
            Event::Info(msg) => self.line(&format!("  {}", printable_lines(&msg))),
            Event::ExternalServer { url } => self.line(&format!("  Using the server at {url}")),
            Event::Waiting { elapsed, status } => self.waiting(elapsed, &printable_lines(&status)),
            Event::ServerHealthy { after } => self.line(&format!(
                "  Server healthy after {:.1} s",
                after.as_secs_f64()
            )),
            Event::IterationStarted {
                index,
                total,
                values,
            } if total > 1 => self.iteration_started(index, total, &values),
            Event::IterationAlreadyDone {
                index,
                total,
                result,
            } => self.line(&format!(
                "  Iteration {index}/{total} already finished: {result}"
            )),
            Event::Resuming { kept } => self.line(&format!(
                "  Resuming: {kept} request(s) measured before the interruption are kept"
            )),
            Event::BenchmarkStarted { total } => self.benchmark_started(total),
            Event::RequestCompleted(record) => self.request_done(
                record.is_success(),
                record.ttft_ms(),
                record.e2e_ms(),
                record.completion_tokens.unwrap_or(0),
            ),
            Event::BenchmarkFinished => self.benchmark_finished(),
            Event::IterationStarted { .. }
            | Event::PhaseFinished { .. }
            | Event::ServerMetrics(_)
            | Event::IterationSummary { .. }
            | Event::Teardown(_) => {}
        }
    }

    fn iteration_started(&self, index: usize, total: usize, values: &[(String, usize)]) {
        let vals: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let text = self.paint(
            &format!("Sweep iteration {index}/{total}  {}", vals.join("  ")),
            "1;36",
        );
        self.line(&text);
    }

    fn warning(&mut self, msg: &str) {
        if !self.warnings.first_time(msg) {
            return;
        }
        let text = self.paint(&format!("  warning: {msg}"), "33");
        self.line(&text);
    }

    fn phase_started(&mut self, phase: Phase) {
        self.clear_spinner();
        let title = match phase {
            Phase::Provision => "Provisioning...",
            Phase::Load => "Loading model...",
            Phase::Benchmark => "Running benchmark...",
            Phase::Collect => "Collecting results...",
        };
        let text = self.paint(&format!("[{}/4] {title}", phase.number()), "1");
        self.line(&text);
        if phase == Phase::Collect {
            for (path, samples) in std::mem::take(&mut self.saved) {
                let scraped = samples
                    .map(|n| format!(" ({n} server-metrics samples)"))
                    .unwrap_or_default();
                self.line(&format!("  Results saved to {}{scraped}", path.display()));
            }
        }
    }

    fn result_saved(&mut self, path: PathBuf, (_, total): (usize, usize), samples: Option<usize>) {
        if total > 1 && !self.opts.quiet {
            self.line(&format!("  Saved {}", path.display()));
        }
        self.saved.push((path, samples));
    }

    fn benchmark_started(&mut self, total: usize) {
        self.clear_spinner();
        self.live = Live {
            started: Some(Instant::now()),
            total,
            ..Live::default()
        };
        if self.opts.tty {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            // `--color never` / NO_COLOR: a bar without colour codes.
            let template = if self.opts.color {
                "  {bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}] {msg}"
            } else {
                "  {bar:30} {pos}/{len} [{elapsed_precise}] {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            self.bar = Some(bar);
        }
    }

    fn benchmark_finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_with_message(self.live.message());
        }
        let live = &self.live;
        let msg = format!(
            "  {} of {} requests done | {}",
            live.done,
            live.total,
            live.message()
        );
        if !self.opts.tty {
            self.line(&msg);
        }
    }

    fn request_done(&mut self, ok: bool, ttft_ms: Option<f64>, e2e_ms: f64, tokens: u64) {
        let live = &mut self.live;
        live.done += 1;
        live.tokens += tokens;
        // Averages are of successful requests: a failure's time (an instant 500, or a
        // timeout) is not a latency, as in the summary.
        if ok {
            live.e2e_sum += e2e_ms;
            if let Some(t) = ttft_ms {
                live.ttft_sum += t;
                live.ttft_n += 1;
            }
        } else {
            live.failed += 1;
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(live.message());
        } else if let Some(tenth) = (live.done * 10).checked_div(live.total) {
            // Without a terminal: one line per 10 %.
            if tenth > live.last_printed_tenth {
                live.last_printed_tenth = tenth;
                let msg = format!("  {}/{} | {}", live.done, live.total, live.message());
                self.line(&msg);
            }
        }
    }

    fn waiting(&mut self, elapsed: Duration, status: &str) {
        let text = format!(
            "waiting for the server ({:.0}s): {status}",
            elapsed.as_secs_f64()
        );
        if self.opts.tty {
            let spinner = self.spinner.get_or_insert_with(|| {
                let s = ProgressBar::new_spinner();
                s.set_draw_target(ProgressDrawTarget::stderr());
                s.enable_steady_tick(Duration::from_millis(120));
                s
            });
            spinner.set_message(text);
        } else if self
            .last_wait_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            self.last_wait_line = Some(Instant::now());
            self.line(&format!("  {text}"));
        }
    }

    fn clear_spinner(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }

    fn finish(&mut self) {
        for msg in self.warnings.repeated() {
            let text = self.paint(&format!("  warning: {msg}"), "33");
            self.line(&text);
        }
        self.clear_spinner();
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_warnings_are_shown_once_then_counted() {
        let mut log = WarningLog::default();
        assert!(log.first_time("disk full"));
        assert!(log.first_time("other"));
        for _ in 0..36 {
            assert!(!log.first_time("disk full"));
        }
        assert_eq!(log.repeated(), ["disk full (repeated 37 times)"]);
    }

    #[test]
    fn live_message_shows_throughput_ttft_latency_failures() {
        let live = Live {
            started: Some(Instant::now() - Duration::from_secs(2)),
            done: 2,
            total: 4,
            failed: 1,
            tokens: 100,
            ttft_sum: 160.0,
            ttft_n: 2,
            e2e_sum: 1000.0,
            last_printed_tenth: 0,
        };
        let msg = live.message();
        assert!(msg.contains("tok/s"), "{msg}");
        assert!(msg.contains("avg TTFT 80ms"), "{msg}");
        assert!(msg.contains("avg latency 1000ms"), "one ok request: {msg}");
        assert!(msg.contains("1 failed"), "{msg}");
    }

    #[test]
    fn averages_count_successful_requests_only() {
        let mut r = Renderer::new(ProgressOptions {
            tty: false,
            quiet: true,
            color: false,
        });
        r.request_done(true, Some(10.0), 100.0, 5);
        r.request_done(true, Some(30.0), 300.0, 5);
        // A failure that still got a first token, then timed out after 60 s.
        r.request_done(false, Some(5000.0), 60_000.0, 1);
        r.request_done(false, None, 2.0, 0);
        let msg = r.live.message();
        assert!(msg.contains("avg TTFT 20ms"), "{msg}");
        assert!(msg.contains("avg latency 200ms"), "{msg}");
        assert!(msg.contains("2 failed"), "{msg}");
    }
}
