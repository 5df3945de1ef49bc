//! Launch templates (SPEC §10): the server command line per framework, as an argv vector so
//! the local provider can run the same template as a child process, and the RunPod v2 create
//! body built from it.
//!
//! v2's `CreatePodRequest` has no `dockerStartCmd`/`dockerEntrypoint` arrays (v1 had them);
//! the only command field is `args`, ONE string handed to the image's ENTRYPOINT, and how
//! RunPod splits it is undocumented. So we keep the image's entrypoint (vLLM's image runs
//! `vllm serve`; SGLang's has none, so `args` carries the full `python3 -m ...` command), join
//! the argv with single spaces, and refuse any argument that whitespace splitting or a shell
//! would change (whitespace, quotes, backslashes, empty). An argument therefore either reaches
//! the server intact or the run stops before a pod is paid for.

use std::collections::BTreeMap;

use crate::config::{CloudType, Experiment, Framework};

use super::model::{Cloud, CreateGpu, CreatePodRequest};
use super::pricing::PriceTable;

pub const VLLM_IMAGE: &str = "vllm/vllm-openai:latest";
pub const SGLANG_IMAGE: &str = "lmsysorg/sglang:latest";
/// The port the server listens on inside the pod.
pub const SERVER_PORT: u16 = 8000;
/// Container disk: image layers plus model weights of a 7-8B model with room to spare.
pub const DISK_GB: u32 = 50;
/// Prefix of every pod name this tool creates (`server status` finds leftovers by it).
pub const POD_NAME_PREFIX: &str = "llm-inf-bench-";

/// A server command line: `program` then `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchCommand {
    /// The executable run locally (`vllm`, `python3`).
    pub program: String,
    pub args: Vec<String>,
    /// Leading words of `program + args` the container image's ENTRYPOINT already supplies
    /// (`vllm serve` for the vLLM image); they are left out of the pod's `args`.
    pub entrypoint_words: usize,
}

impl LaunchCommand {
    /// The full argv, program first.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The argv the container image receives after its own ENTRYPOINT.
    pub fn container_args(&self) -> Vec<String> {
        self.argv()
            .into_iter()
            .skip(self.entrypoint_words)
            .collect()
    }
}

/// The container image for a framework.
pub fn image(framework: Framework) -> &'static str {
    match framework {
        Framework::Vllm => VLLM_IMAGE,
        Framework::Sglang => SGLANG_IMAGE,
    }
}

/// The flags a framework spells its common options with.
struct OptionFlags {
    max_model_len: &'static str,
    memory_fraction: &'static str,
    prefix_cache_on: &'static str,
    prefix_cache_off: &'static str,
    tensor_parallel: &'static str,
}

const VLLM_FLAGS: OptionFlags = OptionFlags {
    max_model_len: "--max-model-len",
    memory_fraction: "--gpu-memory-utilization",
    // Explicit both ways: the default differs between vLLM versions.
    prefix_cache_on: "--enable-prefix-caching",
    prefix_cache_off: "--no-enable-prefix-caching",
    tensor_parallel: "--tensor-parallel-size",
};

const SGLANG_FLAGS: OptionFlags = OptionFlags {
    max_model_len: "--context-length",
    memory_fraction: "--mem-fraction-static",
    // SGLang's radix cache (its prefix cache) is on unless disabled.
    prefix_cache_on: "--enable-cache-report",
    prefix_cache_off: "--disable-radix-cache",
    tensor_parallel: "--tp",
};

/// The server command for `exp`, listening on `host:port`.
pub fn server_command(exp: &Experiment, host: &str, port: u16) -> LaunchCommand {
    let model = exp.model.name.clone();
    let listen = [
        "--host".to_string(),
        host.into(),
        "--port".into(),
        port.to_string(),
    ];
    let (program, mut args, flags, entrypoint_words) = match exp.framework {
        Framework::Vllm => {
            let mut a = vec!["serve".to_string(), model];
            a.extend(listen);
            ("vllm", a, &VLLM_FLAGS, 2)
        }
        Framework::Sglang => {
            let mut a = vec!["-m".to_string(), "sglang.launch_server".into()];
            a.extend(["--model-path".into(), model]);
            a.extend(listen);
            a.push("--enable-metrics".into());
            ("python3", a, &SGLANG_FLAGS, 0)
        }
    };
    args.extend(option_args(exp, flags));
    args.extend(exp.framework_options.extra_args.iter().cloned());
    LaunchCommand {
        program: program.to_string(),
        args,
        entrypoint_words,
    }
}

/// Context length, memory fraction, prefix cache, quantization and tensor parallelism.
fn option_args(exp: &Experiment, flags: &OptionFlags) -> Vec<String> {
    let o = &exp.framework_options;
    let mut a = Vec::new();
    if let Some(n) = o.max_model_len {
        a.extend([flags.max_model_len.into(), n.to_string()]);
    }
    if let Some(f) = o.gpu_memory_utilization {
        a.extend([flags.memory_fraction.into(), f.to_string()]);
    }
    match o.enable_prefix_caching {
        Some(true) => a.push(flags.prefix_cache_on.into()),
        Some(false) => a.push(flags.prefix_cache_off.into()),
        None => {}
    }
    if let Some(q) = &exp.model.quantization {
        a.extend(["--quantization".into(), q.clone()]);
    }
    let gpus = exp.infrastructure.gpu_count;
    if gpus > 1 {
        a.extend([flags.tensor_parallel.into(), gpus.to_string()]);
    }
    a
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "argument {arg:?} cannot be passed to a RunPod pod intact: RunPod v2 takes the command \
         as one string, so arguments must not be empty or contain spaces, quotes or backslashes"
    )]
    UnsafeArgument { arg: String },
    #[error("infrastructure.gpu_type is required for provider runpod (known: {known})")]
    MissingGpuType { known: String },
    #[error("unknown gpu_type '{gpu}' for RunPod (known: {known}; run `llm-inf-bench update-pricing` to refresh)")]
    UnknownGpuType { gpu: String, known: String },
    #[error("cannot generate the server's API key: {0}")]
    ApiKey(String),
}

/// Join container args into v2's `args` string, refusing anything splitting would change.
pub fn args_string(args: &[String]) -> Result<String, TemplateError> {
    for (i, a) in args.iter().enumerate() {
        let unsafe_char = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '`');
        if a.is_empty() || a.chars().any(unsafe_char) {
            // The error names the argument: a secret flag's value (an API key) shows as `***`.
            let shown = crate::redact::redact_args(args).swap_remove(i);
            return Err(TemplateError::UnsafeArgument { arg: shown });
        }
    }
    Ok(args.join(" "))
}

/// The pod name for a run: `llm-inf-bench-<run name>`, limited to characters every API and
/// shell accepts.
pub fn pod_name(run_name: &str) -> String {
    let clean: String = run_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    format!("{POD_NAME_PREFIX}{clean}")
}

/// The `POST /v2/pods` body for `exp`. `hf_token` is passed as `HF_TOKEN` when given (the
/// caller reads it from the environment) so gated models download.
pub fn create_pod_request(
    exp: &Experiment,
    prices: &PriceTable,
    run_name: &str,
    hf_token: Option<&str>,
) -> Result<CreatePodRequest, TemplateError> {
    create_pod_request_keyed(exp, prices, run_name, hf_token).map(|(request, _)| request)
}

/// [`create_pod_request`] and the API key the server will require (`--api-key` in
/// `extra_args`; a bare one gets a generated key).
pub fn create_pod_request_keyed(
    exp: &Experiment,
    prices: &PriceTable,
    run_name: &str,
    hf_token: Option<&str>,
) -> Result<(CreatePodRequest, Option<crate::redact::Secret>), TemplateError> {
    let known = || prices.known_names().join(", ");
    let gpu_name = exp
        .infrastructure
        .gpu_type
        .as_deref()
        .ok_or_else(|| TemplateError::MissingGpuType { known: known() })?;
    let gpu = prices
        .lookup(gpu_name)
        .ok_or_else(|| TemplateError::UnknownGpuType {
            gpu: gpu_name.to_string(),
            known: known(),
        })?;
    let mut command = server_command(exp, "0.0.0.0", SERVER_PORT);
    let api_key = crate::providers::server_key::server_api_key(&mut command.args)
        .map_err(TemplateError::ApiKey)?;
    let args = args_string(&command.container_args())?;
    let mut env = BTreeMap::new();
    if let Some(token) = hf_token.filter(|t| !t.trim().is_empty()) {
        env.insert("HF_TOKEN".to_string(), token.to_string());
    }
    let request = CreatePodRequest {
        name: pod_name(run_name),
        image: image(exp.framework).to_string(),
        args: Some(args),
        gpu: CreateGpu {
            id: gpu.runpod_id.clone(),
            count: exp.infrastructure.gpu_count.max(1),
        },
        cloud: match exp.infrastructure.cloud_type {
            CloudType::Community => Cloud::Community,
            CloudType::Secure => Cloud::Secure,
        },
        disk: DISK_GB,
        ports: vec![format!("{SERVER_PORT}/http")],
        env,
    };
    Ok((request, api_key))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::*;

    pub(crate) use crate::config::example::runpod_experiment as experiment;

    #[test]
    fn vllm_minimal_and_full() {
        let mut e = experiment(Framework::Vllm);
        let c = server_command(&e, "0.0.0.0", 8000);
        assert_eq!(
            c.container_args().join(" "),
            "meta-llama/Meta-Llama-3-8B-Instruct --host 0.0.0.0 --port 8000"
        );
        assert_eq!(c.argv()[..2], ["vllm".to_string(), "serve".into()]);
        e.framework_options = FrameworkOptions {
            max_model_len: Some(4096),
            gpu_memory_utilization: Some(0.9),
            enable_prefix_caching: Some(true),
            extra_args: vec!["--seed".into(), "1".into()],
        };
        e.model.quantization = Some("awq".into());
        e.infrastructure.gpu_count = 2;
        let c = server_command(&e, "127.0.0.1", 4321);
        assert_eq!(
            c.args.join(" "),
            "serve meta-llama/Meta-Llama-3-8B-Instruct --host 127.0.0.1 --port 4321 \
             --max-model-len 4096 --gpu-memory-utilization 0.9 --enable-prefix-caching \
             --quantization awq --tensor-parallel-size 2 --seed 1"
        );
    }

    #[test]
    fn sglang_full_command_without_entrypoint() {
        let mut e = experiment(Framework::Sglang);
        e.framework_options.max_model_len = Some(8192);
        e.framework_options.gpu_memory_utilization = Some(0.85);
        e.framework_options.enable_prefix_caching = Some(true);
        e.infrastructure.gpu_count = 4;
        let c = server_command(&e, "0.0.0.0", 8000);
        assert_eq!(
            c.container_args().join(" "),
            "python3 -m sglang.launch_server --model-path meta-llama/Meta-Llama-3-8B-Instruct \
             --host 0.0.0.0 --port 8000 --enable-metrics --context-length 8192 \
             --mem-fraction-static 0.85 --enable-cache-report --tp 4"
        );
        e.infrastructure.gpu_count = 1;
        assert!(!server_command(&e, "h", 1)
            .args
            .contains(&"--tp".to_string()));
    }

    #[test]
    fn prefix_caching_toggles_both_ways_and_absent_passes_nothing() {
        let flags = |framework, value| {
            let mut e = experiment(framework);
            e.framework_options.enable_prefix_caching = value;
            let args = server_command(&e, "h", 1).args;
            let caching = |a: &&String| a.contains("prefix-caching") || a.contains("radix");
            args.iter().filter(caching).cloned().collect::<Vec<_>>()
        };
        assert_eq!(
            flags(Framework::Vllm, Some(true)),
            ["--enable-prefix-caching"]
        );
        assert_eq!(
            flags(Framework::Vllm, Some(false)),
            ["--no-enable-prefix-caching"]
        );
        assert!(flags(Framework::Vllm, None).is_empty());
        assert_eq!(
            flags(Framework::Sglang, Some(false)),
            ["--disable-radix-cache"]
        );
        assert!(flags(Framework::Sglang, Some(true)).is_empty());
        assert!(flags(Framework::Sglang, None).is_empty());
    }

    #[test]
    fn create_body_maps_gpu_cloud_and_refuses_unsafe_args() {
        let prices = PriceTable::builtin();
        let mut e = experiment(Framework::Vllm);
        let r = create_pod_request(&e, &prices, "run 1/x", Some("hf_abc")).unwrap();
        assert_eq!(r.name, "llm-inf-bench-run-1-x");
        assert_eq!(r.gpu.id, "NVIDIA A100 80GB PCIe");
        assert_eq!(r.cloud, Cloud::Community);
        assert_eq!(r.ports, vec!["8000/http"]);
        assert_eq!(r.env.get("HF_TOKEN").map(String::as_str), Some("hf_abc"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["cloud"], "COMMUNITY");
        assert!(v["args"].is_string());

        e.framework_options.extra_args = vec!["--chat-template".into(), "a b".into()];
        assert!(matches!(
            create_pod_request(&e, &prices, "r", None),
            Err(TemplateError::UnsafeArgument { .. })
        ));
        e.framework_options.extra_args = vec!["--api-key".into(), "sk'secret".into()];
        let err = create_pod_request(&e, &prices, "r", None).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        e.framework_options.extra_args.clear();
        e.infrastructure.gpu_type = Some("TPU".into());
        let err = create_pod_request(&e, &prices, "r", None).unwrap_err();
        assert!(err.to_string().contains("A100-80GB"), "{err}");
    }

    #[test]
    fn a_bare_api_key_flag_gets_a_generated_key_in_the_pod_args_and_hidden_in_debug() {
        let prices = PriceTable::builtin();
        let mut e = experiment(Framework::Sglang);
        let (_, none) = create_pod_request_keyed(&e, &prices, "r", None).unwrap();
        assert!(none.is_none());
        e.framework_options.extra_args = vec!["--api-key".into()];
        let (r, key) = create_pod_request_keyed(&e, &prices, "r", None).unwrap();
        let key = key.expect("generated");
        let args = r.args.clone().unwrap_or_default();
        assert!(
            args.ends_with(&format!("--api-key {}", key.expose())),
            "{args}"
        );
        assert!(!format!("{r:?}").contains(key.expose()));
    }
}
