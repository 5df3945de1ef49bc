//! The API key of a server this tool starts (issue 19): `--api-key` in `extra_args` (or a
//! local server's `args`). A bare `--api-key` (no value) asks the tool to generate a random
//! key; `--api-key VALUE` uses VALUE. Either way the runner sends the key, and command lines
//! shown or logged hide it (`redact::redact_args`).

use crate::redact::Secret;

const FLAG: &str = "--api-key";

/// Fill in a generated key where `args` has a bare `--api-key`, and return the key the
/// server will require (the last `--api-key` wins, as in argparse). `None`: no key.
pub fn server_api_key(args: &mut Vec<String>) -> Result<Option<Secret>, String> {
    let mut key = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == FLAG {
            match args.get(i + 1).filter(|v| !v.starts_with("--")) {
                Some(value) => key = Some(Secret::new(value.clone())),
                None => {
                    let generated = Secret::generate()?;
                    args.insert(i + 1, generated.expose().to_string());
                    key = Some(generated);
                }
            }
            i += 2;
            continue;
        }
        if let Some(value) = args[i].strip_prefix(FLAG).and_then(|r| r.strip_prefix('=')) {
            if value.is_empty() {
                let generated = Secret::generate()?;
                args[i] = format!("{FLAG}={}", generated.expose());
                key = Some(generated);
            } else {
                key = Some(Secret::new(value));
            }
        }
        i += 1;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_bare_flag_gets_a_generated_key_and_a_value_is_used_as_it_is() {
        let mut args = v("serve m --api-key --port 1");
        let key = server_api_key(&mut args).unwrap().unwrap();
        assert_eq!(args[3], key.expose());
        assert_eq!(key.expose().len(), 32);
        assert_eq!(args[4], "--port");

        let mut args = v("serve m --port 1 --api-key");
        let key = server_api_key(&mut args).unwrap().unwrap();
        assert_eq!(args.last().map(String::as_str), Some(key.expose()));

        let mut args = v("serve --api-key= --x");
        let key = server_api_key(&mut args).unwrap().unwrap();
        assert_eq!(args[1], format!("--api-key={}", key.expose()));

        let mut args = v("serve --api-key sk-mine --api-key=sk-last");
        let key = server_api_key(&mut args).unwrap().unwrap();
        assert_eq!(key.expose(), "sk-last");
        assert_eq!(args, v("serve --api-key sk-mine --api-key=sk-last"));

        let mut args = v("serve m --api-keys x --port 1");
        assert!(server_api_key(&mut args).unwrap().is_none());
    }
}
