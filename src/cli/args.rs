//! The clap command tree (SPEC §2).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "llm-inf-bench",
    version,
    about = "Benchmark LLM inference servers (vLLM, SGLang): provision, load, stream, measure, tear down",
    propagate_version = true
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// Lives with the renderers that follow it.
pub use crate::output::style::ColorChoice;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment (provision, load, benchmark, collect).
    Run(RunArgs),
    /// List result files.
    List(ListArgs),
    /// Show one run's config, summary and metadata.
    Show(ShowArgs),
    /// Compare two runs side by side with deltas.
    Compare(CompareArgs),
    /// Export one run's per-request rows (csv or jsonl).
    Export(ExportArgs),
    /// Result commands (list, show, compare, export).
    #[command(subcommand)]
    Results(ResultsCommand),
    /// Create the app config (~/.llm-inf-bench/config.yaml); never overwrites.
    Init,
    /// Read or change the app config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the environment.
    Doctor,
    /// Pods this tool started: status, stop.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Refresh the GPU price table from RunPod's catalog.
    UpdatePricing,
    /// Run the built-in simulated inference server until Ctrl-C.
    Simulate(SimulateArgs),
    /// Live dashboard in the browser: start, watch and stop runs, browse and compare results.
    Dashboard(DashboardArgs),
    /// One self-contained HTML file with charts of one or more runs (opens offline).
    Report(ReportArgs),
    /// Load benchmark of this client itself (accuracy, ceiling, memory, start-up).
    #[command(hide = true)]
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer requests per test: a rough look in a fraction of the time.
    #[arg(long)]
    pub quick: bool,
    /// Sections to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<BenchSection>,
    /// Also write the full report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Internal: be the bench's server (prints `listening <addr>`, serves until killed).
    #[arg(long, hide = true)]
    pub serve: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchSection {
    Accuracy,
    Ceiling,
    Memory,
    Startup,
    /// Open loop: send lag, achieved rate and TTFT at 1000 and 5000 requests/s.
    OpenLoop,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Pods started by this tool and not yet terminated, with live status and cost.
    Status,
    /// Terminate a pod.
    Stop {
        /// The pod id (see `server status`).
        pod_id: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment config (YAML).
    pub config: PathBuf,
    /// Validate and print the plan and cost; provision nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the cost confirmation prompt.
    #[arg(short = 'y', long)]
    pub confirm: bool,
    /// Use an already running server; skip provisioning and teardown.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,
    /// Run name used in the run id instead of the config's name.
    #[arg(short, long)]
    pub name: Option<String>,
    /// Model to request (and serve, on a provisioned server) instead of the config's
    /// model.name, e.g. the name `simulate --model` or your server serves.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Do not terminate the server at the end (prints how to stop it).
    #[arg(long)]
    pub keep_server: bool,
    /// Override metrics.output_dir.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Longest wait for the server to answer its health check, in seconds (default 600, or a
    /// local server's startup_timeout_s).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub health_timeout: Option<u64>,
    /// Continue an interrupted run (after a crash or Ctrl-C) from its journal: same config,
    /// only the requests not yet completed.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Run each iteration N times on the same server (ids `-r1`…`-rN`) and summarize the
    /// repeats: mean, 95 % confidence interval, coefficient of variation. Overrides `repeat:`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: Option<u32>,
    /// API key of the inference server, sent as `Authorization: Bearer` (else
    /// LLM_INF_BENCH_SERVER_API_KEY, OPENAI_API_KEY, then `server.api_key` in the app config).
    /// Never printed or stored.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Percentiles the summary prints, e.g. `50,90,99,99.9` (of 50, 90, 95, 99, 99.9; the
    /// result file keeps all of them, with mean, min, max and standard deviation).
    #[arg(long, value_name = "LIST", value_parser = parse_percentiles)]
    pub percentiles: Option<Percentiles>,
}

/// `--percentiles`: the chosen stored percentiles, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles(pub Vec<f64>);

impl Percentiles {
    /// The chosen list, or the default p50/p95/p99.
    pub fn shown(choice: Option<&Percentiles>) -> &[f64] {
        choice.map_or(&crate::output::summary::DEFAULT_SHOWN[..], |p| &p.0[..])
    }
}

fn parse_percentiles(text: &str) -> Result<Percentiles, String> {
    crate::output::summary::parse_percentiles(text).map(Percentiles)
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Results folder (default: the app config's output_dir, else ./results).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, unique prefix/substring of one, or a path to a result file.
    pub run: String,
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Percentiles the summary prints, e.g. `50,90,99,99.9` (default 50,95,99).
    #[arg(long, value_name = "LIST", value_parser = parse_percentiles)]
    pub percentiles: Option<Percentiles>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Runs to compare: the first is the baseline (A), each other one gets a column with
    /// its delta against A. Run ids, `latest`/`latest~N`, sweep ids or names, repeat sets.
    #[arg(required = true, num_args = 2.., value_name = "RUN")]
    pub runs: Vec<String>,
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Exit 1 when a headline latency or throughput metric of B is significantly worse than
    /// A's by more than this (e.g. `5%`): a CI gate for serving-config changes.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub fail_on_regression: Option<f64>,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    crate::metrics::significance::parse_percent(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub run: String,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output file (default: stdout). An existing file is kept unless --force is given.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite an existing output file (never a result file or a journal).
    #[arg(long, requires = "output")]
    pub force: bool,
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    List(ListArgs),
    Show(ShowArgs),
    Compare(CompareArgs),
    Export(ExportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set a key, e.g. `runpod.api_key` or `defaults.output_dir`.
    Set { key: String, value: String },
    /// Print a key's value (secrets redacted).
    Get { key: String },
    /// Print the app config's path.
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FrameworkArg {
    Vllm,
    Sglang,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Wire format and metric names to speak.
    #[arg(long, value_enum, default_value_t = FrameworkArg::Vllm)]
    pub framework: FrameworkArg,
    /// Served model name (like vLLM's --served-model-name); requests for another model get
    /// vLLM's 404. Default: sim-model.
    #[arg(long)]
    pub model: Option<String>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Engine profile (YAML with the keys of `infrastructure.simulation`).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// RNG seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Most sequences decoded at once.
    #[arg(long)]
    pub max_num_seqs: Option<usize>,
    /// KV-cache capacity in tokens.
    #[arg(long)]
    pub kv_cache_tokens: Option<u64>,
    /// Decode step time with one running sequence, ms.
    #[arg(long)]
    pub decode_step_ms: Option<f64>,
    /// Fixed time before the first token, ms.
    #[arg(long)]
    pub base_ttft_ms: Option<f64>,
    /// Fraction of requests answered with HTTP 500.
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Fraction of streams cut mid-way.
    #[arg(long)]
    pub disconnect_rate: Option<f64>,
    /// Require this key (`Authorization: Bearer <key>`), like `vllm serve --api-key`.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8420)]
    pub port: u16,
    /// Address to bind. Anything but loopback exposes a page that can start paid runs.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Results folder (default: the app config's output_dir, else ./results).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Folder of experiment configs the start form offers.
    #[arg(long, default_value = "experiments")]
    pub experiments: PathBuf,
    /// Do not open the browser.
    #[arg(long)]
    pub no_open: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run ids, unique prefixes/substrings of them, or paths to result files.
    #[arg(required = true)]
    pub runs: Vec<String>,
    /// Output file.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
    /// Results folder (default: the app config's output_dir, else ./results).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks over the whole tree (conflicts, defaults, ids).
    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
