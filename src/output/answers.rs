//! The answer lines of a summary panel: SLO objectives with their verdicts, goodput, and
//! cost per million tokens.

use std::io::{self, Write};

use crate::metrics::cost::CostSummary;
use crate::metrics::slo::{Objective, SloSummary};
use crate::output::style::{num3, or_dash, Style};
use crate::results::result::Summary;

/// `$0.41`, `$0.0123`, `$12.3`: enough digits for sub-cent prices.
pub fn dollars(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.1 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

/// `1,830`: thousands separated, no decimals above 100.
pub fn grouped(v: f64) -> String {
    if v.abs() < 100.0 {
        return num3(v);
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn slo_lines(slo: &SloSummary, style: Style) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for o in &slo.objectives {
        let what = Objective {
            metric: o.metric,
            p: o.p,
            max: o.max,
        }
        .describe();
        let verdict = if o.met {
            style.green("met")
        } else {
            style.red("MISSED")
        };
        let value = or_dash(o.value.map(|v| format!("{} ms", num3(v))));
        lines.push(("SLO".into(), format!("{what}: {value} {verdict}")));
    }
    let all = if slo.all_met {
        style.green("all objectives met")
    } else {
        style.red("not met")
    };
    lines.push(("SLO".into(), all));
    lines.push((
        "Goodput".into(),
        format!(
            "{} tok/s, {} req/s ({} requests met every limit)",
            num3(slo.goodput_tps),
            num3(slo.goodput_rps),
            slo.good_requests
        ),
    ));
    lines
}

fn cost_line(cost: &CostSummary) -> String {
    let per = |v: Option<f64>| or_dash(v.map(dollars));
    let mut text = format!(
        "{} per million output tokens, {} per million total (at {}/hr)",
        per(cost.per_million_output_tokens),
        per(cost.per_million_total_tokens),
        dollars(cost.cost_per_hr)
    );
    if let Some(good) = cost.per_million_good_output_tokens {
        text.push_str(&format!(
            ", {} per million good output tokens",
            dollars(good)
        ));
    }
    text
}

/// `(label, value)` lines for the summary panel; empty without an SLO or a price.
pub fn summary_lines(summary: &Summary, style: Style) -> Vec<(String, String)> {
    let mut lines = summary
        .slo
        .as_ref()
        .map(|s| slo_lines(s, style))
        .unwrap_or_default();
    if let Some(cost) = &summary.cost {
        lines.push(("Cost".into(), cost_line(cost)));
    }
    lines
}

/// Writes the lines with the panel's label column.
pub fn render(
    summary: &Summary,
    style: Style,
    label_width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    for (label, value) in summary_lines(summary, style) {
        let padded = format!("{label:<label_width$}");
        writeln!(out, "  {}{value}", style.dim(&padded))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_thousands() {
        assert_eq!(dollars(0.41), "$0.41");
        assert_eq!(dollars(0.012345), "$0.0123");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(grouped(1830.4), "1,830");
        assert_eq!(grouped(1234567.0), "1,234,567");
        assert_eq!(grouped(7.12), "7.12");
    }
}
