//! The one page shared by the live dashboard and the self-contained report: HTML, CSS and
//! JavaScript embedded in the binary (no build step, no network). Charts are hand-made SVG
//! (`assets/charts.js`, ~10 KB): lighter than any vendored library and one `<path>` per
//! series keeps 10,000 points cheap to redraw.

pub mod data;

const INDEX_HTML: &str = include_str!("assets/index.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const CHARTS_JS: &str = include_str!("assets/charts.js");
const APP_JS: &str = include_str!("assets/app.js");
const LIVE_JS: &str = include_str!("assets/live.js");

/// Which page: the dashboard talks to its server; the report carries its data inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dashboard,
    Report,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Dashboard => "dashboard",
            Mode::Report => "report",
        }
    }
}

/// JSON made safe inside a `<script>` element: no `</script>`, no `<!--`.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The whole page. `runs` (report only) is the JSON array of [`data::RunView`]s it shows.
pub fn render(mode: Mode, title: &str, runs: Option<&str>) -> String {
    let boot = format!(
        r#"{{"mode":"{}","runs":{}}}"#,
        mode.as_str(),
        runs.unwrap_or("null")
    );
    INDEX_HTML
        .replace("{{TITLE}}", &html_escape(title))
        .replace("/*{{STYLE}}*/", STYLE_CSS)
        .replace("{{BOOT}}", &script_safe(&boot))
        .replace("/*{{CHARTS}}*/", CHARTS_JS)
        .replace("/*{{APP}}*/", &format!("{APP_JS}\n{LIVE_JS}"))
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script_element() {
        let page = render(Mode::Report, "t", Some(r#"[{"run_id":"</script><b>"}]"#));
        assert!(!page.contains("</script><b>"));
        assert!(page.contains(r#""mode":"report""#));
    }

    #[test]
    fn every_placeholder_is_filled() {
        let page = render(Mode::Dashboard, "<x>", None);
        assert!(!page.contains("{{"), "unfilled placeholder");
        assert!(page.contains("&lt;x&gt;"));
    }
}
