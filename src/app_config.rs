//! The app config (SPEC §2.2): `~/.llm-inf-bench/config.yaml`, or `$LLM_INF_BENCH_HOME/config.yaml`.
//!
//! Holds the RunPod API key and defaults. The key is never printed: `get` redacts it and the
//! `Debug` of [`AppConfig`] hides it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const HOME_ENV: &str = "LLM_INF_BENCH_HOME";
pub const API_KEY_ENV: &str = "RUNPOD_API_KEY";
pub const API_URL_ENV: &str = "RUNPOD_API_URL";
pub const PROXY_URL_ENV: &str = "RUNPOD_PROXY_URL";
pub const DEFAULT_API_URL: &str = "https://api.runpod.io";
pub const DEFAULT_PROXY_URL: &str = "https://{pod_id}-{port}.proxy.runpod.net";
/// The inference server's API key (issue 19), before `OPENAI_API_KEY`.
pub const SERVER_API_KEY_ENV: &str = "LLM_INF_BENCH_SERVER_API_KEY";
/// The key OpenAI clients (and `vllm bench serve`) read.
pub const OPENAI_API_KEY_ENV: &str = "OPENAI_API_KEY";

#[derive(Debug, thiserror::Error)]
pub enum AppConfigError {
    #[error("cannot find a home directory; set {HOME_ENV} to choose where the app config lives")]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid YAML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown key '{key}'; known keys: {}", KEYS.join(", "))]
    UnknownKey { key: String },
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunpodSection {
    pub api_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

impl std::fmt::Debug for RunpodSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunpodSection")
            .field("api_key", &redact(&self.api_key))
            .field("api_url", &self.api_url)
            .field("proxy_url", &self.proxy_url)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Defaults {
    pub output_dir: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            output_dir: "./results".to_string(),
        }
    }
}

/// `server:` — the inference server's API key (sent as `Authorization: Bearer`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    pub api_key: String,
}

impl ServerSection {
    fn is_empty(&self) -> bool {
        self.api_key.is_empty()
    }
}

impl std::fmt::Debug for ServerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSection")
            .field("api_key", &redact(&self.api_key))
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    pub runpod: RunpodSection,
    pub defaults: Defaults,
    #[serde(skip_serializing_if = "ServerSection::is_empty")]
    pub server: ServerSection,
}

/// Keys that `config get/set` understand.
pub const KEYS: &[&str] = &[
    "runpod.api_key",
    "runpod.api_url",
    "runpod.proxy_url",
    "defaults.output_dir",
    "server.api_key",
];

/// The app directory: `$LLM_INF_BENCH_HOME`, else `~/.llm-inf-bench`.
pub fn app_dir() -> Result<PathBuf, AppConfigError> {
    if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".llm-inf-bench"))
        .ok_or(AppConfigError::NoHome)
}

/// App config keys holding a secret (never echoed by `config set`).
pub fn is_secret_key(key: &str) -> bool {
    key == "runpod.api_key" || key == "server.api_key"
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.yaml")
}

pub use crate::redact::key as redact;

impl AppConfig {
    /// Load from `dir`; a missing file is the default config.
    pub fn load(dir: &Path) -> Result<Self, AppConfigError> {
        let path = config_path(dir);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(AppConfigError::Read { path, source }),
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(&text).map_err(|e| AppConfigError::Parse {
            path,
            message: e.to_string(),
        })
    }

    /// Write with mode 0600 (it holds a secret), atomically.
    pub fn save(&self, dir: &Path) -> Result<(), AppConfigError> {
        let path = config_path(dir);
        let text = serde_yaml::to_string(self).map_err(|e| AppConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_private(&path, text.as_bytes())
    }

    pub fn get(&self, key: &str) -> Result<Option<String>, AppConfigError> {
        Ok(match key {
            "runpod.api_key" => Some(redact(&self.runpod.api_key)),
            "runpod.api_url" => self.runpod.api_url.clone(),
            "runpod.proxy_url" => self.runpod.proxy_url.clone(),
            "defaults.output_dir" => Some(self.defaults.output_dir.clone()),
            "server.api_key" => Some(redact(&self.server.api_key)),
            _ => return Err(unknown(key)),
        })
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), AppConfigError> {
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        match key {
            "runpod.api_key" => self.runpod.api_key = value.to_string(),
            "runpod.api_url" => self.runpod.api_url = opt(value),
            "runpod.proxy_url" => self.runpod.proxy_url = opt(value),
            "defaults.output_dir" => self.defaults.output_dir = value.to_string(),
            "server.api_key" => self.server.api_key = value.to_string(),
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// Whether `RUNPOD_API_KEY` is set: it is used instead of the app config's key.
    pub fn api_key_from_env() -> bool {
        std::env::var(API_KEY_ENV).is_ok_and(|k| !k.trim().is_empty())
    }

    /// API key: `RUNPOD_API_KEY` env, then the app config. `None` when neither is set.
    pub fn api_key(&self) -> Option<String> {
        std::env::var(API_KEY_ENV)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .or_else(|| Some(self.runpod.api_key.clone()).filter(|k| !k.trim().is_empty()))
    }

    /// The inference server's API key, first set of: `flag` (`run --api-key`),
    /// `LLM_INF_BENCH_SERVER_API_KEY`, `OPENAI_API_KEY`, `server.api_key` here. Blank values
    /// count as unset.
    pub fn server_api_key(&self, flag: Option<&str>) -> Option<crate::redact::Secret> {
        let env = |name: &str| std::env::var(name).ok();
        [
            flag.map(String::from),
            env(SERVER_API_KEY_ENV),
            env(OPENAI_API_KEY_ENV),
            Some(self.server.api_key.clone()),
        ]
        .into_iter()
        .flatten()
        .map(|k| k.trim().to_string())
        .find(|k| !k.is_empty())
        .map(crate::redact::Secret::new)
    }

    pub fn api_url(&self) -> String {
        std::env::var(API_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.runpod.api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
    }

    pub fn proxy_url(&self) -> String {
        std::env::var(PROXY_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.runpod.proxy_url.clone())
            .unwrap_or_else(|| DEFAULT_PROXY_URL.to_string())
    }
}

fn unknown(key: &str) -> AppConfigError {
    AppConfigError::UnknownKey {
        key: key.to_string(),
    }
}

/// Outcome of `init`.
#[derive(Debug, PartialEq, Eq)]
pub enum InitOutcome {
    Created(PathBuf),
    AlreadyExists(PathBuf),
}

/// Create the app config with defaults; never overwrite an existing one.
pub fn init(dir: &Path) -> Result<InitOutcome, AppConfigError> {
    let path = config_path(dir);
    if path.exists() {
        return Ok(InitOutcome::AlreadyExists(path));
    }
    fs::create_dir_all(dir).map_err(|source| AppConfigError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let text = "# llm-inf-bench app config. The API key can also come from RUNPOD_API_KEY.\n\
                runpod:\n  api_key: \"\"\n\
                defaults:\n  output_dir: \"./results\"\n";
    // create_new: a config written by another process in the meantime is not overwritten.
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .map_err(|source| AppConfigError::Write {
                    path: path.clone(),
                    source,
                })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(InitOutcome::AlreadyExists(path))
        }
        Err(source) => return Err(AppConfigError::Write { path, source }),
    }
    Ok(InitOutcome::Created(path))
}

/// Atomic write of a private (0600) file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AppConfigError> {
    let err = |source| AppConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys() {
        assert_eq!(redact(""), "(not set)");
        assert_eq!(redact("short"), "****");
        assert_eq!(redact("rpa_ABCDEFGHIJKLMNOP"), "rpa_…MNOP");
    }

    #[test]
    fn init_never_overwrites_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = init(dir.path()).unwrap();
        assert!(matches!(first, InitOutcome::Created(_)));
        let path = config_path(dir.path());
        fs::write(&path, "defaults:\n  output_dir: mine\n").unwrap();
        assert!(matches!(
            init(dir.path()).unwrap(),
            InitOutcome::AlreadyExists(_)
        ));
        assert!(fs::read_to_string(&path).unwrap().contains("mine"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dir2 = tempfile::tempdir().unwrap();
            init(dir2.path()).unwrap();
            let mode = fs::metadata(config_path(dir2.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn set_get_round_trip_redacts_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = AppConfig::load(dir.path()).unwrap();
        cfg.set("runpod.api_key", "rpa_SECRETSECRETSECRET").unwrap();
        cfg.set("defaults.output_dir", "/tmp/r").unwrap();
        cfg.save(dir.path()).unwrap();
        let back = AppConfig::load(dir.path()).unwrap();
        assert_eq!(back.runpod.api_key, "rpa_SECRETSECRETSECRET");
        let shown = back.get("runpod.api_key").unwrap().unwrap_or_default();
        assert!(!shown.contains("SECRETSECRET"));
        assert!(!format!("{back:?}").contains("SECRETSECRET"));
        assert_eq!(
            back.get("defaults.output_dir").unwrap().as_deref(),
            Some("/tmp/r")
        );
        assert!(matches!(
            back.get("nope"),
            Err(AppConfigError::UnknownKey { .. })
        ));
    }
}
