//! The dry run's server lines: which image or executable a real run would start and its exact
//! command line (secret flag values hidden), so flags such as prefix caching can be checked
//! before anything is paid for.

use std::io::{self, Write};

use crate::config::{Experiment, ProviderKind};
use crate::providers::local::local_command;
use crate::providers::runpod::templates::{image, server_command, SERVER_PORT};
use crate::redact::redact_args;
use crate::redact::url as redact_url;
use crate::text::printable;

/// Stands for the port the local provider picks when the server starts.
const PORT_PLACEHOLDER: &str = "<free port>";

pub fn render_server(
    exp: &Experiment,
    server_url: Option<&str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if let Some(url) = server_url {
        return writeln!(
            out,
            "Server: the one already running at {} (nothing is started)",
            printable(&redact_url(url))
        );
    }
    let argv = match exp.infrastructure.provider {
        ProviderKind::Simulated => {
            return writeln!(
                out,
                "Server: the built-in simulator ({}), inside this process",
                exp.framework
            );
        }
        ProviderKind::Runpod => {
            writeln!(out, "Image: {}", image(exp.framework))?;
            server_command(exp, "0.0.0.0", SERVER_PORT).argv()
        }
        ProviderKind::Local => {
            let mut argv = local_command(exp, 0).argv();
            writeln!(out, "Executable: {}", printable(&argv[0]))?;
            if let Some(i) = argv.iter().position(|a| a == "--port") {
                if let Some(port) = argv.get_mut(i + 1) {
                    *port = PORT_PLACEHOLDER.to_string();
                }
            }
            argv
        }
    };
    writeln!(
        out,
        "Server command: {}",
        printable(&redact_args(&argv).join(" "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::Fixture;

    fn render(edits: &[(&str, &str)], url: Option<&str>) -> String {
        let exp = Fixture::new()
            .load_with(edits)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        render_server(&exp, url, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn runpod_shows_image_and_command_with_prefix_caching_off() {
        let text = render(
            &[
                ("framework_options.enable_prefix_caching", "false"),
                ("framework_options.extra_args", "[--api-key, sk-SECRET1]"),
            ],
            None,
        );
        assert!(text.contains("Image: vllm/vllm-openai:latest"), "{text}");
        assert!(text.contains("Server command: vllm serve "), "{text}");
        assert!(text.contains("--no-enable-prefix-caching"), "{text}");
        assert!(text.contains("--api-key ***"), "{text}");
        assert!(!text.contains("SECRET1"), "{text}");
    }

    #[test]
    fn external_server_and_simulator_start_nothing() {
        let text = render(&[], Some("http://bob:pw@127.0.0.1:9"));
        assert!(text.contains("http://***@127.0.0.1:9"), "{text}");
        let text = render(
            &[
                ("infrastructure.provider", "simulated"),
                ("infrastructure.gpu_type", "~"),
            ],
            None,
        );
        assert!(text.contains("built-in simulator"), "{text}");
    }
}
