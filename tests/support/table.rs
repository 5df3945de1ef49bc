//! Reading the tables the binary prints (`│ a ┆ b │` rows).

/// The trimmed cells of one table row.
pub fn row_cells(row: &str) -> Vec<&str> {
    row.trim_matches('│').split('┆').map(str::trim).collect()
}

/// The cells of every table row in `text`, header rows included.
pub fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| row_cells(l).into_iter().map(str::to_string).collect())
        .collect()
}
