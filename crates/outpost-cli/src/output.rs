//! Printing: aligned tables for people, JSON for programs.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Renders rows as left-aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // A reader that stopped early (`| head`) is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// A ms timestamp as UTC `YYYY-MM-DD HH:MM`.
pub fn time(ms: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ` → `YYYY-MM-DD HH:MM`
    let full = outpost_core::timefmt::format_utc(ms);
    format!("{} {}", &full[..10], &full[11..16])
}

/// A progress bar over `len` bytes, labelled `what` (hashing, uploading, pulling).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let out = table(
            &["NAME", "ROLE"],
            &[
                vec!["ci".into(), "developer".into()],
                vec!["longer-name".into(), "admin".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME         ROLE\nci           developer\nlonger-name  admin\n"
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(time(0), "1970-01-01 00:00");
        // Checked with `date -u -d @1795389326`.
        assert_eq!(time(1_795_389_326_882), "2026-11-22 23:15");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00");
    }
}
