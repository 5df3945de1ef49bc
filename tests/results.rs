use llm_inf_bench::cli::args::*;
use llm_inf_bench::cli::results;
use llm_inf_bench::output::style::Style;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/python-results");
    if p.is_dir() {
        p
    } else {
        PathBuf::from("/work/shared/fixtures/python-results")
    }
}

#[test]
fn scratch() {
    let dir = fixtures();
    let mut out = Vec::new();
    results::list(&ListArgs { dir: None }, &dir, Style::PLAIN, &mut out).unwrap();
    for r in ["multiturn", "batch-errors", "concurrent"] {
        results::show(
            &ShowArgs {
                run: r.into(),
                dir: None,
            },
            &dir,
            Style::PLAIN,
            &mut out,
        )
        .unwrap();
    }
    results::compare(
        &CompareArgs {
            a: "single".into(),
            b: "concurrent".into(),
            dir: None,
        },
        &dir,
        Style::PLAIN,
        &mut out,
    )
    .unwrap();
    results::export(
        &ExportArgs {
            run: "batch-errors".into(),
            format: ExportFormat::Csv,
            output: None,
            dir: None,
        },
        &dir,
        &mut out,
    )
    .unwrap();
    print!("{}", String::from_utf8(out).unwrap());
}
