//! Drift-report timing for scripts/bench.sh: reads the data set
//! scripts/bench-drift.py wrote (`{"features": [{"reference": [...],
//! "current": [...]}]}`), computes for every feature the KS test (statistic
//! and exact p-value), normed Wasserstein, PSI, KL and Jensen–Shannon with
//! `outpost_core::drift`, and prints the median time of a whole report over
//! several runs with the values, as JSON.
//!
//! cargo run --release --example drift_bench -p outpost-core -- DATA.json [RUNS]

use std::time::Instant;

use outpost_core::drift::{Column, StatTest, feature_drift};

const TESTS: [StatTest; 5] = [
    StatTest::Ks,
    StatTest::Wasserstein,
    StatTest::Psi,
    StatTest::Kl,
    StatTest::JensenShannon,
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: drift_bench DATA.json [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    };
    let features: Vec<(Column, Column)> = data["features"]
        .as_array()
        .ok_or("no features")?
        .iter()
        .map(|f| {
            (
                Column::Numbers(numbers(&f["reference"])),
                Column::Numbers(numbers(&f["current"])),
            )
        })
        .collect();
    let report = || -> Result<Vec<Vec<f64>>, Box<dyn std::error::Error>> {
        let mut out = Vec::with_capacity(features.len());
        for (reference, current) in &features {
            let mut scores = Vec::with_capacity(TESTS.len());
            for test in TESTS {
                scores.push(feature_drift(reference, current, Some(test), None)?.score);
            }
            out.push(scores);
        }
        Ok(out)
    };
    let values = report()?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(report()?);
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({"seconds": times[times.len() / 2], "runs": runs, "values": values})
    );
    Ok(())
}
