//! Endpoint URLs under a server's base URL. The path is appended to the base's path and the
//! query string is kept where it belongs (`http://h:8000/?k=v` + `/health` →
//! `http://h:8000/health?k=v`), never pasted after it.

/// `base` with `path` (starting with `/`) appended to its path; its query kept, fragment dropped.
pub fn join(base: &str, path: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| e.to_string())?;
    if url.cannot_be_a_base() {
        return Err("it must start with http:// or https://".into());
    }
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_fragment(None);
    Ok(url)
}

/// The base URL's path ends in `/v1` (an OpenAI-style base URL, not the server's root).
pub fn has_v1_suffix(base: &str) -> bool {
    reqwest::Url::parse(base)
        .map(|u| u.path().trim_end_matches('/').ends_with("/v1"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_stay_after_the_path() {
        let u = join("http://h:8000/?token=abc", "/v1/chat/completions").unwrap();
        assert_eq!(u.as_str(), "http://h:8000/v1/chat/completions?token=abc");
        let u = join("http://h:8000/proxy/?a=1&b=2#x", "/health").unwrap();
        assert_eq!(u.as_str(), "http://h:8000/proxy/health?a=1&b=2");
        let u = join("http://h:8000", "/metrics").unwrap();
        assert_eq!(u.as_str(), "http://h:8000/metrics");
        assert!(join("not a url", "/health").is_err());
    }

    #[test]
    fn v1_suffix_is_recognised() {
        assert!(has_v1_suffix("http://h:8000/v1"));
        assert!(has_v1_suffix("http://h:8000/v1/?k=v"));
        assert!(!has_v1_suffix("http://h:8000/"));
        assert!(!has_v1_suffix("http://h:8000/v1x"));
    }
}
