//! The plan's warnings (`config::warnings`), one line each: in `--dry-run` after the plan, and
//! on stderr before a real run starts.

use std::io::{self, Write};

use crate::config::warnings::PlanWarning;
use crate::output::style::Style;
use crate::text::printable;

pub fn render_plan_warnings(
    warnings: &[PlanWarning],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    for w in warnings {
        let line = format!("warning: {}", printable(&w.to_string()));
        writeln!(out, "{}", style.yellow(&line))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_warning_without_control_characters() {
        let w = [PlanWarning {
            field: "workload.concurrency".into(),
            message: "64 is more than\x1b[31m the 20 requests".into(),
        }];
        let mut out = Vec::new();
        render_plan_warnings(&w, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("warning: workload.concurrency: 64 is more than"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(text.lines().count(), 1);
    }
}
