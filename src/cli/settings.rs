//! `init` and `config set|get|path`: the app config.

use std::io::Write;

use super::args::ConfigCommand;
use super::{exit, CliError};
use crate::app_config::{self, AppConfig, InitOutcome};

pub fn init(out: &mut dyn Write) -> Result<u8, CliError> {
    let dir = app_config::app_dir()?;
    match app_config::init(&dir)? {
        InitOutcome::Created(path) => writeln!(
            out,
            "Created {} (mode 0600). Set your RunPod key with `llm-inf-bench config set runpod.api_key <key>` or the RUNPOD_API_KEY environment variable.",
            path.display()
        )?,
        InitOutcome::AlreadyExists(path) => {
            writeln!(out, "{} already exists; left unchanged.", path.display())?
        }
    }
    Ok(exit::SUCCESS)
}

pub fn config(command: ConfigCommand, out: &mut dyn Write) -> Result<u8, CliError> {
    let dir = app_config::app_dir()?;
    match command {
        ConfigCommand::Path => writeln!(out, "{}", app_config::config_path(&dir).display())?,
        ConfigCommand::Get { key } => {
            let cfg = AppConfig::load(&dir)?;
            let value = cfg.get(&key)?.unwrap_or_else(|| "(not set)".into());
            // The key in use comes from the environment: say so, showing none of it.
            if app_config::is_secret_key(&key) && AppConfig::api_key_from_env() {
                writeln!(
                    out,
                    "(hidden) from the environment: {} is set and is used instead of the app config's value ({value})",
                    app_config::API_KEY_ENV
                )?;
            } else {
                writeln!(out, "{value}")?;
            }
        }
        ConfigCommand::Set { key, value } => {
            let mut cfg = AppConfig::load(&dir)?;
            cfg.set(&key, &value)?;
            cfg.save(&dir)?;
            // A secret is never echoed, not even in part.
            if app_config::is_secret_key(&key) {
                let state = if value.is_empty() {
                    "cleared"
                } else {
                    "set (hidden)"
                };
                writeln!(out, "{key} {state}")?;
            } else {
                let shown = cfg.get(&key)?.unwrap_or_default();
                writeln!(out, "{key} = {shown}")?;
            }
        }
    }
    Ok(exit::SUCCESS)
}
