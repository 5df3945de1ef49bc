//! Redaction in one place: credentials in server URLs and API keys never reach output, logs,
//! journals or result files.

/// `http://user:pass@host` → `http://***@host`: credentials never reach output or files.
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `"sk-abcdef123456"` → `"sk-a…3456"`; short or empty keys are fully hidden.
pub fn key(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    match chars.len() {
        0 => "(not set)".to_string(),
        n if n < 12 => "****".to_string(),
        n => format!(
            "{}…{}",
            chars[..4].iter().collect::<String>(),
            chars[n - 4..].iter().collect::<String>()
        ),
    }
}

/// Hides the credentials of a server URL (`http://user:pass@host`) in any text derived from
/// it: request errors, health and model-check failures, reqwest's own error text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The user-info as typed and as `Url` serialises it (percent-encoded).
    secrets: Vec<String>,
}

impl Redactor {
    pub fn for_url(base_url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Some((_, rest)) = base_url.split_once("://") {
            let authority = rest.split('/').next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                secrets.push(userinfo.to_string());
            }
        }
        if let Ok(url) = reqwest::Url::parse(base_url) {
            let userinfo = match url.password() {
                Some(p) => format!("{}:{p}", url.username()),
                None => url.username().to_string(),
            };
            secrets.push(userinfo);
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a password containing the user name is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn text(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}

/// What a hidden secret is replaced with in files, logs and output.
pub const REDACTED: &str = "***";

/// Words that make an environment variable or a command-line flag a secret.
const SECRET_WORDS: [&str; 6] = ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "APIKEY"];

/// An environment variable whose value is a secret: its name contains TOKEN, KEY, SECRET or
/// PASSWORD (any case), e.g. `HF_TOKEN`, `OPENAI_API_KEY`, `DB_PASSWORD`.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// A flag whose value is a secret: one of its words is a secret word (`--api-key`,
/// `--hf-token`, `--ssl-keyfile-password`), so `--max-num-batched-tokens` or `--tokenizer`
/// are not.
pub fn is_secret_flag(arg: &str) -> bool {
    let Some(name) = arg.strip_prefix('-') else {
        return false;
    };
    let name = name
        .split('=')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    name.split(['-', '_'])
        .any(|word| SECRET_WORDS.contains(&word))
}

/// A command line with the value of every secret flag hidden: `--api-key sk-1` →
/// `--api-key ***`, `--api-key=sk-1` → `--api-key=***`.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next && !arg.starts_with("--") {
            out.push(REDACTED.to_string());
            hide_next = false;
            continue;
        }
        hide_next = false;
        match arg.split_once('=') {
            Some((flag, _)) if is_secret_flag(flag) => out.push(format!("{flag}={REDACTED}")),
            None if is_secret_flag(arg) => {
                hide_next = true;
                out.push(arg.clone());
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Hides the values of secret-looking variables (see [`is_secret_env_name`]) in place.
pub fn redact_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a mut String)>) {
    for (name, value) in env {
        if is_secret_env_name(name) && !value.is_empty() {
            *value = REDACTED.to_string();
        }
    }
}

/// A secret value (an inference server's API key): `Debug` and `Display` never show it, and it
/// has no `Serialize`, so it cannot reach a result file, a journal or a log by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only for the one place that sends it (an HTTP header, a server's
    /// command line).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Nothing but whitespace (an unset key).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// A fresh random key (128 bits from the OS, hex) for a server this tool starts with
    /// `--api-key`. Fails only when the OS has no randomness to give.
    pub fn generate() -> Result<Self, String> {
        use rand::TryRngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| format!("no random numbers from the OS for an API key: {e}"))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            url("https://bob:s3cret@host:8000/v1"),
            "https://***@host:8000/v1"
        );
        assert_eq!(url("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn redactor_hides_typed_and_encoded_credentials() {
        let r = Redactor::for_url("http://bob:p@ss w@host:8000");
        assert_eq!(
            r.text("GET http://bob:p@ss w@host:8000/x"),
            "GET http://***@host:8000/x"
        );
        assert_eq!(
            r.text("url (http://bob:p%40ss%20w@host:8000/)"),
            "url (http://***@host:8000/)"
        );
        let none = Redactor::for_url("http://host:8000");
        assert_eq!(none.text("http://host:8000"), "http://host:8000");
    }

    #[test]
    fn secret_env_names_and_flags_are_recognised() {
        for name in [
            "HF_TOKEN",
            "openai_api_key",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
        ] {
            assert!(is_secret_env_name(name), "{name}");
        }
        assert!(!is_secret_env_name("VLLM_CPU_KVCACHE_SPACE"));
        for flag in [
            "--api-key",
            "--hf-token",
            "--admin_api_key",
            "--apikey",
            "-token",
        ] {
            assert!(is_secret_flag(flag), "{flag}");
        }
        for flag in [
            "--max-num-batched-tokens",
            "--tokenizer",
            "--kv-cache-dtype",
            "sk-1",
        ] {
            assert!(!is_secret_flag(flag), "{flag}");
        }
    }

    #[test]
    fn redacts_secret_flag_values_and_env_values() {
        let args: Vec<String> = [
            "serve",
            "--api-key",
            "sk-1",
            "--hf-token=hf_2",
            "--port",
            "80",
            "--token",
            "--x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            redact_args(&args).join(" "),
            "serve --api-key *** --hf-token=*** --port 80 --token --x"
        );
        let mut env = std::collections::BTreeMap::from([
            ("HF_TOKEN".to_string(), "hf_2".to_string()),
            ("VLLM_CPU_KVCACHE_SPACE".to_string(), "1".to_string()),
        ]);
        redact_env(env.iter_mut());
        assert_eq!(env["HF_TOKEN"], REDACTED);
        assert_eq!(env["VLLM_CPU_KVCACHE_SPACE"], "1");
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let s = Secret::new("sk-very-secret-value");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "sk-very-secret-value");
        let a = Secret::generate().unwrap();
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a, Secret::generate().unwrap());
    }
}
