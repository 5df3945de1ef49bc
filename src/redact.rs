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
}
