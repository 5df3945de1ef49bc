//! Presentation helpers shared by the renderers: whether to colour, ANSI painting, tables and
//! number formats. Colour is decided once by the caller and passed in, so renderers stay pure.

use comfy_table::{presets, Cell, Color, Table};

/// When to colour output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub color: bool,
}

/// How a value compares with a baseline, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Plain,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };
    pub const COLOR: Style = Style { color: true };

    /// `--color always|never` win; `auto` colours only a terminal without `NO_COLOR` set
    /// (https://no-color.org: any non-empty value).
    pub fn from_choice(
        choice: ColorChoice,
        no_color: Option<&str>,
        stdout_is_terminal: bool,
    ) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stdout_is_terminal && !matches!(no_color, Some(v) if !v.is_empty())
            }
        };
        Style { color }
    }

    /// [`Style::from_choice`] with this process's `NO_COLOR` and stdout.
    pub fn detect(choice: ColorChoice) -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var("NO_COLOR").ok();
        Style::from_choice(choice, no_color.as_deref(), std::io::stdout().is_terminal())
    }

    /// The same for stderr (progress, warnings, logs): colour follows the stream written to,
    /// so a redirected stderr gets no escape codes even when stdout is a terminal.
    pub fn detect_stderr(choice: ColorChoice) -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var("NO_COLOR").ok();
        Style::from_choice(choice, no_color.as_deref(), std::io::stderr().is_terminal())
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn tone(self, tone: Tone, text: &str) -> String {
        match tone {
            Tone::Good => self.green(text),
            Tone::Bad => self.red(text),
            Tone::Plain => text.to_string(),
        }
    }

    /// A table that colours cells only when this style does, whatever the output is.
    pub fn table(self) -> Table {
        let mut table = Table::new();
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        if self.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        table
    }

    /// A table cell in the tone's colour (comfy-table measures widths without the escapes).
    pub fn cell(self, tone: Tone, text: impl ToString) -> Cell {
        let cell = Cell::new(text);
        match tone {
            Tone::Good if self.color => cell.fg(Color::Green),
            Tone::Bad if self.color => cell.fg(Color::Red),
            _ => cell,
        }
    }
}

/// Milliseconds with about three significant digits: `4.87ms`, `15.2ms`, `138ms`.
pub fn ms(value: f64) -> String {
    format!("{}ms", num3(value))
}

/// About three significant digits, no exponent: `0.058`, `4.87`, `15.2`, `402`, `1234`;
/// whole numbers without decimals (`8`, not `8.00`).
pub fn num3(value: f64) -> String {
    let a = value.abs();
    if a >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if a >= 10.0 {
        format!("{value:.1}")
    } else if a >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A fraction 0..1 as a percentage with one decimal: `0.1392` → `13.9%`.
pub fn percent(fraction: f64) -> String {
    let pct = fraction * 100.0;
    // Small but non-zero values (a tiny model's KV usage) must not read as 0.0%.
    if pct != 0.0 && pct.abs() < 0.1 {
        format!("{pct:.3}%")
    } else {
        format!("{pct:.1}%")
    }
}

/// `-` for a missing value.
pub fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_choice_respects_flag_no_color_and_terminal() {
        use ColorChoice::*;
        assert!(Style::from_choice(Always, Some("1"), false).color);
        assert!(!Style::from_choice(Never, None, true).color);
        assert!(Style::from_choice(Auto, None, true).color);
        assert!(Style::from_choice(Auto, Some(""), true).color);
        assert!(!Style::from_choice(Auto, Some("1"), true).color);
        assert!(!Style::from_choice(Auto, None, false).color);
    }

    #[test]
    fn paints_only_with_colour() {
        assert_eq!(Style::PLAIN.green("x"), "x");
        assert_eq!(Style::COLOR.green("x"), "\x1b[32mx\x1b[0m");
        assert_eq!(Style::COLOR.tone(Tone::Bad, "x"), "\x1b[31mx\x1b[0m");
        assert_eq!(Style::COLOR.tone(Tone::Plain, "x"), "x");
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(ms(4.8698), "4.87ms");
        assert_eq!(ms(15.2498), "15.2ms");
        assert_eq!(ms(138.33), "138ms");
        assert_eq!(num3(0.0581), "0.058");
        assert_eq!(num3(0.0), "0");
        assert_eq!(num3(8.0), "8");
        assert_eq!(num3(99.5), "99.5");
        assert_eq!(num3(-12.34), "-12.3");
        assert_eq!(percent(0.1392), "13.9%");
        assert_eq!(or_dash(None), "-");
    }
}
