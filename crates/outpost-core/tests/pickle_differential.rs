//! Outpost's pickle scanner against CPython's real unpickler.
//!
//! `tests/python/pickle_corpus.py` writes a corpus — every protocol 0–5,
//! benign and malicious, and the hostile kinds (no `PROTO`, `MARK`/`POP_MARK`
//! tricks, memo tricks, several pickles in a stream, joblib array bytes,
//! prefixed zips, dotted names under allowed packages) — and loads each file
//! with CPython's unpicklers (C and pure Python, fresh and kept memo, joblib's
//! `NumpyUnpickler`, every zip member), recording every global `find_class`
//! is asked for. Python does not judge; this test does, with Outpost's
//! allow-list:
//!
//! - a file where CPython asked for a global outside the allow-list must be
//!   `unsafe` in Outpost;
//! - a file built from allow-listed globals only (`benign`) must be safe, so
//!   the first check cannot pass by refusing everything.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use outpost_core::pickle::{is_safe_global, scan_pickle, scan_zip};
use serde_json::Value;

/// The workspace's virtualenv if there is one, else `python3` from `PATH`.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A directory removed when the test ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn outpost_refuses_every_global_cpython_imports_outside_the_allow_list() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "outpost-pickle-corpus-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    )));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/pickle_corpus.py");
    let python = python();
    // No Python, no test: this must fail, not skip.
    let output = Command::new(&python)
        .arg(&script)
        .arg(&dir.0)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", python.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Value =
        serde_json::from_slice(&std::fs::read(dir.0.join("verdicts.json")).unwrap()).unwrap();
    let verdicts = verdicts.as_object().unwrap();

    let mut failures = Vec::new();
    let (mut refused, mut benign) = (0, 0);
    for (name, entry) in verdicts {
        let bytes = std::fs::read(dir.0.join(name)).unwrap();
        let scan = scan_zip(&bytes).unwrap_or_else(|| scan_pickle(&bytes));
        let mut outside: Vec<String> = entry["globals"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|call| call["resolved"].as_array().unwrap().iter())
            .map(|pair| {
                let pair = pair.as_array().unwrap();
                format!(
                    "{}.{}",
                    pair[0].as_str().unwrap(),
                    pair[1].as_str().unwrap()
                )
            })
            .filter(|global| !is_safe_global(global))
            .collect();
        outside.dedup();
        if !outside.is_empty() {
            refused += 1;
            if scan.is_safe() {
                failures.push(format!(
                    "{name}: CPython imports {outside:?}, Outpost calls it safe ({scan:?})"
                ));
            }
        }
        if entry["benign"] == Value::Bool(true) {
            benign += 1;
            if !outside.is_empty() {
                failures.push(format!(
                    "{name}: corpus error, a benign entry imports {outside:?}"
                ));
            } else if !scan.is_safe() {
                failures.push(format!(
                    "{name}: only allow-listed globals, but Outpost says {:?}",
                    scan.reason()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        refused >= 120 && benign >= 150,
        "the corpus is too small: {refused} malicious, {benign} benign of {}",
        verdicts.len()
    );
}
