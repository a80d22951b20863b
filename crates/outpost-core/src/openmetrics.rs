//! A writer for the OpenMetrics text format (what Prometheus and compatible
//! scrapers read): metric families with their TYPE, HELP and UNIT lines,
//! label values escaped, histograms as cumulative `_bucket{le=…}` lines with
//! `_count` and `_sum`, and the closing `# EOF`. Small enough that a crate
//! would cost the Worker more than it saves.

use std::fmt::Write;

/// The content type scrapers negotiate for this format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels as (name, value) pairs, in the order written.
pub type Labels<'a> = [(&'a str, &'a str)];

fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels<'_>, extra: Option<(&str, &str)>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .copied()
        .chain(extra)
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if x.is_nan() {
        "NaN".to_owned()
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Accumulates families; `finish` closes the exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family. `kind` is `counter`, `gauge` or `histogram`;
    /// counters' samples get the `_total` suffix.
    pub fn family(&mut self, name: &str, kind: &str, unit: Option<&str>, help: &str) {
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        if let Some(unit) = unit {
            let _ = writeln!(self.text, "# UNIT {name} {unit}");
        }
        let _ = writeln!(self.text, "# HELP {name} {}", escape(help));
    }

    pub fn counter(&mut self, name: &str, labels: &Labels<'_>, value: f64) {
        let _ = writeln!(
            self.text,
            "{name}_total{} {}",
            label_text(labels, None),
            number(value)
        );
    }

    pub fn gauge(&mut self, name: &str, labels: &Labels<'_>, value: f64) {
        let _ = writeln!(
            self.text,
            "{name}{} {}",
            label_text(labels, None),
            number(value)
        );
    }

    /// A histogram from per-bin counts over `bounds` (plus one open bin) —
    /// as `telemetry::Histogram` keeps them — written cumulatively.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let mut cumulative = 0u64;
        for (i, bound) in bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
        {
            cumulative += counts.get(i).copied().unwrap_or(0);
            let le = number(bound);
            let _ = writeln!(
                self.text,
                "{name}_bucket{} {cumulative}",
                label_text(labels, Some(("le", &le)))
            );
        }
        let _ = writeln!(
            self.text,
            "{name}_count{} {cumulative}",
            label_text(labels, None)
        );
        let _ = writeln!(
            self.text,
            "{name}_sum{} {}",
            label_text(labels, None),
            number(sum)
        );
    }

    pub fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_escapes_labels_and_ends_with_eof() {
        let mut e = Exposition::new();
        e.family("outpost_http_requests", "counter", None, "Requests served.");
        e.counter(
            "outpost_http_requests",
            &[("route", "Predict"), ("model", "a\"b\\c\nd")],
            12.0,
        );
        e.family(
            "outpost_request_duration_seconds",
            "histogram",
            Some("seconds"),
            "Latency.",
        );
        e.histogram(
            "outpost_request_duration_seconds",
            &[("route", "Resolve")],
            &[0.01, 0.1],
            &[3, 1, 2],
            0.75,
        );
        e.family("outpost_up", "gauge", None, "Always 1.");
        e.gauge("outpost_up", &[], 1.0);
        let text = e.finish();
        assert_eq!(
            text,
            "# TYPE outpost_http_requests counter\n\
             # HELP outpost_http_requests Requests served.\n\
             outpost_http_requests_total{route=\"Predict\",model=\"a\\\"b\\\\c\\nd\"} 12\n\
             # TYPE outpost_request_duration_seconds histogram\n\
             # UNIT outpost_request_duration_seconds seconds\n\
             # HELP outpost_request_duration_seconds Latency.\n\
             outpost_request_duration_seconds_bucket{route=\"Resolve\",le=\"0.01\"} 3\n\
             outpost_request_duration_seconds_bucket{route=\"Resolve\",le=\"0.1\"} 4\n\
             outpost_request_duration_seconds_bucket{route=\"Resolve\",le=\"+Inf\"} 6\n\
             outpost_request_duration_seconds_count{route=\"Resolve\"} 6\n\
             outpost_request_duration_seconds_sum{route=\"Resolve\"} 0.75\n\
             # TYPE outpost_up gauge\n\
             # HELP outpost_up Always 1.\n\
             outpost_up 1\n\
             # EOF\n"
        );
    }
}
