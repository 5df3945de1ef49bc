//! `bench` (hidden): the client's own load benchmark, printed as tables with the targets.

use std::io::Write;

use super::args::{BenchArgs, BenchSection};
use super::{exit, CliError};
use crate::bench::{self, AccuracyRow, BenchOptions, BenchReport, ClientStats};

pub async fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    if args.serve {
        let (listener, addr) = bench::bind_server().await?;
        writeln!(out, "listening {addr}")?;
        out.flush()?;
        bench::server::serve(listener).await?;
        return Ok(exit::SUCCESS);
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Message(format!("cannot find this program's path: {e}")))?;
    let all = args.only.is_empty();
    let on = |s| all || args.only.contains(&s);
    let opts = BenchOptions {
        exe,
        quick: args.quick,
        accuracy: on(BenchSection::Accuracy),
        ceiling: on(BenchSection::Ceiling),
        memory: on(BenchSection::Memory),
        startup: on(BenchSection::Startup),
        open_loop: on(BenchSection::OpenLoop),
    };
    eprintln!(
        "bench: {} cores, load average {:.2} (numbers are noisy when it is above ~1)",
        bench::measure::cores(),
        bench::loadavg().unwrap_or(f64::NAN)
    );
    let report = bench::run(&opts, crate::sys::nofile_limit()).await;
    render(&report, out)?;
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)
            .map_err(|e| CliError::Message(format!("cannot encode the report: {e}")))?;
        std::fs::write(path, json)?;
    }
    if report.errors.is_empty() {
        Ok(exit::SUCCESS)
    } else {
        Ok(exit::FAILURE)
    }
}

fn p(
    s: &Option<crate::results::result::Stats>,
    f: fn(&crate::results::result::Stats) -> f64,
) -> f64 {
    s.as_ref().map(f).unwrap_or(f64::NAN)
}

fn accuracy_line(
    out: &mut dyn Write,
    who: &str,
    row: &AccuracyRow,
    c: &ClientStats,
    late_ms: f64,
) -> std::io::Result<()> {
    let e2e = row.ttft_ms + row.itl_ms * f64::from(row.tokens - 1);
    writeln!(
        out,
        "{:>5} {:<6} {:>+8.2} {:>+8.2} {:>+8.2} {:>+8.2} {:>+8.2} {:>+8.2} {:>9.0} {:>6} {:>5.0}% {:>7.2}",
        row.concurrency,
        who,
        p(&c.ttft_ms, |s| s.p50) - row.ttft_ms - late_ms,
        p(&c.ttft_ms, |s| s.p99) - row.ttft_ms - late_ms,
        p(&c.tbt_ms, |s| s.p50) - row.itl_ms,
        p(&c.tbt_ms, |s| s.p99) - row.itl_ms,
        p(&c.e2e_ms, |s| s.p50) - e2e - late_ms,
        p(&c.e2e_ms, |s| s.p99) - e2e - late_ms,
        c.tokens_per_s,
        c.failed,
        c.cpu_utilization * 100.0,
        c.max_send_delay_ms.unwrap_or(f64::NAN),
    )
}

fn render_open_loop(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    if r.open_loop.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nOPEN LOOP: real rate workload (Poisson) vs its schedule; targets: send lag p99 <= 1 ms \
         at 1000/s, <= 5 ms at 5000/s; achieved >= 99.5 %; TTFT p50 within 1 ms of truth"
    )?;
    writeln!(
        out,
        "pacer   target/s    sched/s  achieved/s  ach/target  lag p50  lag p99  lag max  TTFTp50-truth  failed   cpu  load"
    )?;
    for row in &r.open_loop {
        let lag = |f: fn(&crate::results::result::Stats) -> f64| p(&row.send_lag_ms, f);
        writeln!(
            out,
            "{:<6} {:>9.0} {:>10.1} {:>11.1} {:>10.2}% {:>8.3} {:>8.3} {:>8.3} {:>+14.3} {:>7} {:>4.0}% {:>5.2}",
            match row.clock {
                crate::config::PacerClock::Thread => "thread",
                crate::config::PacerClock::Tokio => "tokio",
            },
            row.target_rate,
            row.scheduled_rate,
            row.achieved_rate,
            100.0 * row.achieved_rate / row.target_rate,
            lag(|s| s.p50),
            lag(|s| s.p99),
            lag(|s| s.max),
            row.ttft_p50_error_ms(),
            row.failed,
            row.cpu_utilization * 100.0,
            row.loadavg.unwrap_or(f64::NAN),
        )?;
    }
    if let Some(row) = r.open_loop.first() {
        writeln!(
            out,
            "      schedule TTFT {} ms ITL {} ms x{}; truth = TTFT + server's mean lateness",
            row.ttft_ms, row.itl_ms, row.tokens
        )?;
    }
    render_vllm(r, out)
}

/// `vllm bench serve` at the same rates against the same server (or why it was skipped).
fn render_vllm(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(why) = &r.vllm_skipped {
        return writeln!(out, "\nvllm bench serve: skipped: {why}");
    }
    if r.vllm_serve.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nvllm bench serve (same server, same schedule, Poisson): TTFT - truth, ms"
    )?;
    writeln!(
        out,
        "target/s  achieved/s  ach/target  vllm req/s  TTFTp50-truth  TTFTp99-truth  failed"
    )?;
    for row in &r.vllm_serve {
        let truth = crate::bench::open_loop::TTFT_MS as f64 + row.server.mean_us / 1000.0;
        writeln!(
            out,
            "{:>8.0} {:>11.1} {:>10.2}% {:>11.1} {:>+14.3} {:>+14.3} {:>7}",
            row.target_rate,
            row.achieved_rate,
            100.0 * row.achieved_rate / row.target_rate,
            row.request_throughput,
            p(&row.ttft_ms, |s| s.p50) - truth,
            p(&row.ttft_ms, |s| s.p99) - truth,
            row.failed,
        )?;
    }
    if let Some(row) = r.vllm_serve.first() {
        writeln!(out, "      command: {}", row.command)?;
    }
    Ok(())
}

fn render(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "cores: {}, open-file limit: {:?}",
        r.cores, r.nofile_limit
    )?;
    render_accuracy(r, out)?;
    render_ceiling(r, out)?;
    render_memory_and_startup(r, out)?;
    render_open_loop(r, out)?;
    for e in &r.errors {
        writeln!(out, "\nerror: {e}")?;
    }
    Ok(())
}

/// The ACCURACY section: per concurrency, ours and the lean client against the schedule.
fn render_accuracy(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    if r.accuracy.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nACCURACY: measured - (truth + server's mean lateness), ms"
    )?;
    writeln!(
        out,
        " conc client TTFTp50  TTFTp99  TBTp50   TBTp99   E2Ep50   E2Ep99     tok/s failed   cpu send-lag"
    )?;
    for row in &r.accuracy {
        accuracy_line(out, "ours", row, &row.client, row.server.mean_us / 1000.0)?;
        accuracy_line(
            out,
            "lean",
            row,
            &row.lean,
            row.lean_server.mean_us / 1000.0,
        )?;
        writeln!(
            out,
            "      schedule TTFT {} ms ITL {} ms x{}; ideal {:.0} tok/s; ours {:.1}% of lean; \
             server lateness mean/p50/p99 {:.2}/{:.2}/{:.2} ms; new connections ours {} \
             lean {}; load {:.2}",
            row.ttft_ms,
            row.itl_ms,
            row.tokens,
            row.ideal_tokens_per_s,
            100.0 * row.client.tokens_per_s / row.lean.tokens_per_s,
            row.server.mean_us / 1000.0,
            row.server.p50_us / 1000.0,
            row.server.p99_us / 1000.0,
            row.server.connections,
            row.lean_server.connections,
            row.loadavg.unwrap_or(f64::NAN),
        )?;
    }
    Ok(())
}

/// The CEILING section: chunks per second at saturation.
fn render_ceiling(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(c) = &r.ceiling {
        writeln!(
            out,
            "\nCEILING: {} streams, {} tokens per response in one write (load {:.2})",
            c.streams,
            c.tokens_per_response,
            c.loadavg.unwrap_or(f64::NAN)
        )?;
        writeln!(
            out,
            "  ours {:>9.0} chunks/s (cpu {:.0}%)\n  lean {:>9.0} chunks/s (cpu {:.0}%)",
            c.client.tokens_per_s,
            c.client.cpu_utilization * 100.0,
            c.lean.tokens_per_s,
            c.lean.cpu_utilization * 100.0
        )?;
    }
    Ok(())
}

/// The MEMORY and START-UP sections.
fn render_memory_and_startup(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(m) = &r.memory {
        writeln!(
            out,
            "\nMEMORY: {:.1} KB RSS per in-flight stream ({} streams, max_tokens {}, replies \
             stopping after {} tokens); {} bytes per stored token timing once a request ends",
            m.bytes_per_stream / 1024.0,
            m.streams,
            m.max_tokens,
            m.reply_tokens,
            m.bytes_per_token_timing
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "n/a".into())
        )?;
    }
    if let Some(s) = &r.startup {
        writeln!(
            out,
            "\nSTART-UP: --help {:.1} ms (best {:.1}); run --dry-run {:.1} ms (best {:.1})",
            s.help_ms_median, s.help_ms_min, s.dry_run_ms_median, s.dry_run_ms_min
        )?;
    }
    Ok(())
}
