//! Finding and loading the model's `tokenizer.json` (Hugging Face `tokenizers`, no Python).
//!
//! Lookup order: `model.tokenizer` (a file, or a folder holding `tokenizer.json`); else
//! `model.name` when it is such a folder; else, for a hub id, the Hugging Face cache
//! (`HF_HOME/hub`, else `~/.cache/huggingface/hub`), our own download cache, and finally a
//! download of `tokenizer.json` from the hub (`HF_TOKEN` for gated models).

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why no tokenizer could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot load tokenizer {path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("model.tokenizer: {path} has no tokenizer.json")]
    NoTokenizerJson { path: PathBuf },
    #[error(
        "no tokenizer for `{id}` on this machine (not a folder, not in the Hugging Face cache \
         {cache}) and the download from the hub failed: {reason}. Set model.tokenizer to a \
         tokenizer.json file or a folder holding one{gated}"
    )]
    Download {
        id: String,
        cache: String,
        reason: String,
        gated: &'static str,
    },
    #[error("tokenizer: {0}")]
    Tokenize(String),
}

/// Where the tokenizer comes from, decided without touching the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    File(PathBuf),
    /// A hub id with no local copy found yet.
    Hub(String),
}

/// `model.tokenizer` (already resolved against the config file) or `model.name`.
pub fn locate(
    tokenizer: Option<&Path>,
    model_name: &str,
) -> Result<TokenizerSource, TokenizerError> {
    if let Some(path) = tokenizer {
        if path.is_file() {
            return Ok(TokenizerSource::File(path.to_path_buf()));
        }
        if path.is_dir() {
            let file = path.join("tokenizer.json");
            return match file.is_file() {
                true => Ok(TokenizerSource::File(file)),
                false => Err(TokenizerError::NoTokenizerJson {
                    path: path.to_path_buf(),
                }),
            };
        }
        // Not on disk: treat as a hub id (`org/name`).
        return Ok(hub_or_cached(&path.to_string_lossy()));
    }
    let as_dir = Path::new(model_name).join("tokenizer.json");
    if as_dir.is_file() {
        return Ok(TokenizerSource::File(as_dir));
    }
    Ok(hub_or_cached(model_name))
}

fn hub_or_cached(id: &str) -> TokenizerSource {
    match cached_file(id) {
        Some(file) => TokenizerSource::File(file),
        None => TokenizerSource::Hub(id.to_string()),
    }
}

/// `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
fn hf_cache_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache").join("huggingface").join("hub")
}

/// Our download cache (kept apart from the HF cache, whose layout we do not write).
fn own_cache_file(id: &str) -> PathBuf {
    crate::app_config::app_dir()
        .unwrap_or_else(|_| PathBuf::from(".llm-inf-bench"))
        .join("tokenizers")
        .join(id.replace('/', "--"))
        .join("tokenizer.json")
}

/// A `tokenizer.json` for `id` in the HF cache (the `main` snapshot first) or ours.
fn cached_file(id: &str) -> Option<PathBuf> {
    cached_file_in(&hf_cache_dir(), id)
}

fn cached_file_in(hf_cache: &Path, id: &str) -> Option<PathBuf> {
    let repo = hf_cache.join(format!("models--{}", id.replace('/', "--")));
    let main = std::fs::read_to_string(repo.join("refs").join("main")).ok();
    let snapshots = repo.join("snapshots");
    let mut candidates: Vec<PathBuf> = main
        .map(|hash| snapshots.join(hash.trim()).join("tokenizer.json"))
        .into_iter()
        .collect();
    if let Ok(entries) = std::fs::read_dir(&snapshots) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("tokenizer.json"))
            .collect();
        more.sort();
        candidates.extend(more);
    }
    candidates.push(own_cache_file(id));
    candidates.into_iter().find(|p| p.is_file())
}

/// Load the tokenizer, downloading `tokenizer.json` from the hub when nothing local exists.
pub async fn load(source: &TokenizerSource) -> Result<TextTokenizer, TokenizerError> {
    match source {
        TokenizerSource::File(path) => TextTokenizer::from_file(path),
        TokenizerSource::Hub(id) => {
            let endpoint =
                std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
            let path =
                download(&endpoint, id)
                    .await
                    .map_err(|reason| TokenizerError::Download {
                        id: id.clone(),
                        cache: hf_cache_dir().display().to_string(),
                        reason,
                        gated: if std::env::var_os("HF_TOKEN").is_some() {
                            ""
                        } else {
                            " (gated models also need HF_TOKEN)"
                        },
                    })?;
            TextTokenizer::from_file(&path)
        }
    }
}

async fn download(endpoint: &str, id: &str) -> Result<PathBuf, String> {
    let url = format!(
        "{}/{id}/resolve/main/tokenizer.json",
        endpoint.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.get(&url);
    if let Ok(token) = std::env::var("HF_TOKEN") {
        request = request.bearer_auth(token);
    }
    let resp = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status().as_u16()));
    }
    let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    let path = own_cache_file(id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, &body).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A loaded tokenizer plus the ids that are safe to draw at random (ordinary tokens that
/// decode to valid text on their own; no special or added tokens).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    sampleable: Arc<Vec<u32>>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("sampleable", &self.sampleable.len())
            .finish()
    }
}

impl TextTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|source| TokenizerError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        Self::new(inner).map_err(|e| TokenizerError::Load {
            path: path.to_path_buf(),
            source: e.into(),
        })
    }

    pub fn new(inner: tokenizers::Tokenizer) -> Result<Self, String> {
        let added: std::collections::HashSet<u32> =
            inner.get_added_tokens_decoder().keys().copied().collect();
        let vocab = inner.get_vocab_size(false) as u32;
        let sampleable: Vec<u32> = (0..vocab)
            .filter(|id| !added.contains(id))
            .filter(|&id| {
                inner.decode(&[id], false).is_ok_and(|t| {
                    !t.is_empty() && !t.contains('\u{fffd}') && !t.chars().any(char::is_control)
                })
            })
            .collect();
        if sampleable.len() < 2 {
            return Err(
                "the tokenizer has fewer than 2 ordinary tokens to build prompts from".into(),
            );
        }
        Ok(Self {
            inner: Arc::new(inner),
            sampleable: Arc::new(sampleable),
        })
    }

    pub fn sampleable(&self) -> &[u32] {
        &self.sampleable
    }

    /// Token ids of `text`, without special tokens (what a completions prompt of ids holds).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TokenizerError::Tokenize(e.to_string()))
    }

    pub fn count(&self, text: &str) -> Result<usize, TokenizerError> {
        self.encode(text).map(|ids| ids.len())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, false)
            .map_err(|e| TokenizerError::Tokenize(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_tokenizer_json_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(Some(dir.path()), "m").unwrap_err();
        assert!(err.to_string().contains("has no tokenizer.json"), "{err}");
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        let found = locate(Some(dir.path()), "m").unwrap();
        assert_eq!(
            found,
            TokenizerSource::File(dir.path().join("tokenizer.json"))
        );
        // model.name as a folder
        let by_name = locate(None, &dir.path().to_string_lossy()).unwrap();
        assert_eq!(
            by_name,
            TokenizerSource::File(dir.path().join("tokenizer.json"))
        );
    }

    #[test]
    fn the_hf_cache_main_snapshot_is_found() {
        let hf = tempfile::tempdir().unwrap();
        let repo = hf.path().join("models--org--m");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123\n").unwrap();
        std::fs::write(snap.join("tokenizer.json"), "{}").unwrap();
        assert_eq!(
            cached_file_in(hf.path(), "org/m"),
            Some(snap.join("tokenizer.json"))
        );
        assert_eq!(cached_file_in(hf.path(), "org/other"), None);
    }

    #[tokio::test]
    async fn an_unreachable_hub_is_a_clear_download_error() {
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let err = download("http://127.0.0.1:9", "org/m").await.unwrap_err();
        assert!(
            err.contains("http://127.0.0.1:9/org/m/resolve/main/tokenizer.json"),
            "{err}"
        );
        let e = TokenizerError::Download {
            id: "org/m".into(),
            cache: "/hf".into(),
            reason: err,
            gated: "",
        };
        assert!(e.to_string().contains("Set model.tokenizer"), "{e}");
    }

    #[test]
    fn the_fixture_loads_and_round_trips() {
        let t = super::super::test_tokenizer();
        let ids = t.encode("hello world the quick brown fox").unwrap();
        assert!(!ids.is_empty());
        assert_eq!(t.decode(&ids).unwrap(), "hello world the quick brown fox");
        assert!(t.sampleable().len() > 1000);
    }
}
