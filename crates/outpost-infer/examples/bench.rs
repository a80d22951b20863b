//! Native timings for `scripts/bench.sh`: per conformance fixture, the median
//! time to load (parse, optimise, plan) and to run on one row and on the
//! fixture's whole batch. Prints one JSON object keyed by fixture name.
//!
//! `cargo run --release --example bench -p outpost-infer -- DIR NAME…`

use std::time::Instant;

use outpost_infer::Model;
use outpost_infer::json::inputs_from_json;
use serde_json::{Value, json};

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median seconds per call after a warm-up, over at most `calls` calls or
/// about a second.
fn time(mut call: impl FnMut(), calls: usize) -> f64 {
    for _ in 0..20 {
        call();
    }
    let budget = Instant::now();
    let mut samples = Vec::with_capacity(calls);
    while samples.len() < calls && (samples.len() < 5 || budget.elapsed().as_secs_f64() < 1.0) {
        let started = Instant::now();
        call();
        samples.push(started.elapsed().as_secs_f64());
    }
    median(samples)
}

/// The first row of every input: `{X: [[…], […]]}` → `{X: [[…]]}`.
fn first_row(inputs: &Value) -> Value {
    let mut one = inputs.clone();
    if let Some(object) = one.as_object_mut() {
        for value in object.values_mut() {
            if let Some(rows) = value.as_array_mut() {
                rows.truncate(1);
            }
        }
    }
    one
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: bench DIR NAME…")?;
    let mut report = serde_json::Map::new();
    for name in args {
        let bytes = std::fs::read(format!("{dir}/{name}.onnx"))?;
        let doc: Value = serde_json::from_slice(&std::fs::read(format!("{dir}/{name}.json"))?)?;
        let load = median(
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    let _ = Model::load(&bytes);
                    started.elapsed().as_secs_f64()
                })
                .collect(),
        );
        let model = Model::load(&bytes)?;
        let batch = inputs_from_json(model.inputs(), &doc["inputs"])?;
        let one = inputs_from_json(model.inputs(), &first_row(&doc["inputs"]))?;
        let run_one = time(
            || {
                let _ = model.run(&one);
            },
            2000,
        );
        let run_batch = time(
            || {
                let _ = model.run(&batch);
            },
            2000,
        );
        report.insert(
            name,
            json!({"load_ms": load * 1e3, "one_us": run_one * 1e6, "batch_us": run_batch * 1e6}),
        );
    }
    println!("{}", Value::Object(report));
    Ok(())
}
