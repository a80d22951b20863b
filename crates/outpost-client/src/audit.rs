//! The audit log's hash chain, checked where it is read (the web console, a
//! script): the same `outpost_core::audit::verify_chain` `outpost audit
//! verify` runs, so a browser and the CLI reach the same verdict.
//!
//! ```js
//! const verdict = verifyAuditChain(JSON.stringify(entries)); // entries in seq order from 1
//! verdict.intact; verdict.entries; verdict.brokenAt; verdict.reason;
//! ```

use outpost_core::audit::{AuditEntry, verify_chain};
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, js_error};

/// The verdict on a whole chain, as JSON: `{"intact":true,"entries":N}` or
/// `{"intact":false,"entries":N,"brokenAt":SEQ,"reason":"…"}`.
///
/// Errors: `INPUT_INVALID` when `entries_json` is not a JSON array of audit
/// entries (`GET …/audit` items, every page, in `seq` order from the first).
pub fn audit_chain_verdict(entries_json: &str) -> Result<serde_json::Value, String> {
    let entries: Vec<AuditEntry> = serde_json::from_str(entries_json)
        .map_err(|err| format!("not a JSON array of audit entries: {err}"))?;
    Ok(match verify_chain(&entries) {
        Ok(()) => serde_json::json!({"intact": true, "entries": entries.len()}),
        Err(broken) => serde_json::json!({
            "intact": false,
            "entries": entries.len(),
            "brokenAt": broken.seq,
            "reason": broken.reason,
        }),
    })
}

/// JS entry point of [`audit_chain_verdict`]: returns the verdict object, or
/// throws an `Error` with `code = "INPUT_INVALID"`.
#[wasm_bindgen(js_name = verifyAuditChain)]
pub fn verify_audit_chain(entries_json: &str) -> Result<JsValue, JsValue> {
    let verdict = audit_chain_verdict(entries_json)
        .map_err(|reason| js_error(ErrorCode::InputInvalid, &reason))?;
    js_sys::JSON::parse(&verdict.to_string())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use outpost_core::audit::{GENESIS_HASH, entry_hash};

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut entry: AuditEntry = serde_json::from_value(serde_json::json!({
                    "org": "acme", "seq": seq, "at": 1_700_000_000_000_i64 + seq,
                    "actor": "ci", "role": "admin", "action": "model.create",
                    "target": format!("models/m{seq}"), "outcome": "ok",
                    "details": {}, "prev_hash": prev, "hash": "",
                }))
                .unwrap();
                entry.hash = entry_hash(&entry).to_string();
                prev = entry.hash.clone();
                entry
            })
            .collect()
    }

    #[test]
    fn an_unbroken_chain_is_intact() {
        let text = serde_json::to_string(&chain(3)).unwrap();
        let verdict = audit_chain_verdict(&text).unwrap();
        assert_eq!(verdict, serde_json::json!({"intact": true, "entries": 3}));
    }

    #[test]
    fn an_altered_entry_is_named() {
        let mut entries = chain(3);
        entries[1].target = "models/other".into();
        let verdict = audit_chain_verdict(&serde_json::to_string(&entries).unwrap()).unwrap();
        assert_eq!(verdict["intact"], false);
        assert_eq!(verdict["brokenAt"], 2);
        assert!(
            verdict["reason"].as_str().unwrap().contains("altered"),
            "{verdict}"
        );
    }

    #[test]
    fn a_missing_entry_is_named() {
        let mut entries = chain(3);
        entries.remove(1);
        let verdict = audit_chain_verdict(&serde_json::to_string(&entries).unwrap()).unwrap();
        assert_eq!(verdict["brokenAt"], 3);
        assert!(
            verdict["reason"].as_str().unwrap().contains("missing"),
            "{verdict}"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let err = audit_chain_verdict("{\"items\": []}").unwrap_err();
        assert!(err.contains("not a JSON array"), "{err}");
    }
}
