//! Signatures over metadata, in The Update Framework's formats.
//!
//! Metadata is signed over its canonical JSON (securesystemslib's encoding:
//! sorted keys, no insignificant whitespace, only `"` and `\` escaped, no
//! floats), so any TUF implementation can re-derive the signed bytes. Keys are
//! ed25519 (`ring`); a key's id is the SHA-256 of its canonical public-key
//! object, and public keys and signatures are lowercase hex, as python-tuf
//! writes them.

use std::collections::{BTreeMap, BTreeSet};

use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("canonical JSON has no floating-point numbers; found {0}")]
    Float(String),
    #[error("the private key is not an ed25519 PKCS#8 document")]
    BadPrivateKey,
    #[error("public key `{0}` is not 32 bytes of hex")]
    BadPublicKey(String),
    #[error("{role}: {valid} valid signature(s) from authorised keys, threshold is {threshold}")]
    Threshold {
        role: String,
        valid: usize,
        threshold: usize,
    },
}

/// securesystemslib's canonical JSON encoding of `value`.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, SigningError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for byte in s.bytes() {
        if byte == b'"' || byte == b'\\' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b'"');
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), SigningError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(SigningError::Float(n.to_string()));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sort by the keys' bytes, whatever order the map keeps.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A public key as TUF metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PublicKey {
    pub keytype: String,
    pub scheme: String,
    pub keyval: KeyVal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyVal {
    /// 32 bytes, lowercase hex.
    pub public: String,
}

impl PublicKey {
    pub fn ed25519(public: &[u8]) -> Self {
        Self {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            keyval: KeyVal {
                public: hex::encode(public),
            },
        }
    }

    /// TUF key id: SHA-256 of the key's canonical JSON, hex.
    pub fn key_id(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let bytes = canonical_json(&value).unwrap_or_default();
        Digest::of(&bytes).hex()
    }

    fn bytes(&self) -> Result<[u8; 32], SigningError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.keyval.public, &mut out).map_err(|_| {
            SigningError::BadPublicKey(self.keyval.public.chars().take(80).collect())
        })?;
        Ok(out)
    }
}

/// One signature over a metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signature {
    pub keyid: String,
    /// 64 bytes, lowercase hex.
    pub sig: String,
}

/// A signing key held by whoever signs (the operator's CLI for offline roles,
/// the Worker for online ones). Never serialised. Cheap to clone (the key
/// pair is shared), so a Worker isolate parses each online key once.
#[derive(Clone)]
pub struct SigningKey {
    pair: std::sync::Arc<Ed25519KeyPair>,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("keyid", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// From a PKCS#8 v2 document (what `outpost keys generate` writes).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, SigningError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| SigningError::BadPrivateKey)?;
        let public = PublicKey::ed25519(pair.public_key().as_ref());
        Ok(Self {
            pair: std::sync::Arc::new(pair),
            public,
        })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs the canonical JSON of `signed` (ed25519 is deterministic).
    pub fn sign(&self, signed: &Value) -> Result<Signature, SigningError> {
        let bytes = canonical_json(signed)?;
        Ok(Signature {
            keyid: self.public.key_id(),
            sig: hex::encode(self.pair.sign(&bytes).as_ref()),
        })
    }
}

/// Checks that at least `threshold` distinct authorised keys signed `signed`.
/// Signatures by unknown keys, repeated key ids and bad signatures count for
/// nothing (TUF 5.3.4 / 5.4.2: the threshold counts unique valid keys).
pub fn verify_threshold(
    role: &str,
    signed: &Value,
    signatures: &[Signature],
    keys: &BTreeMap<String, PublicKey>,
    authorised: &[String],
    threshold: usize,
) -> Result<(), SigningError> {
    let bytes = canonical_json(signed)?;
    let mut valid: BTreeSet<&str> = BTreeSet::new();
    for signature in signatures {
        if !authorised.contains(&signature.keyid) || valid.contains(signature.keyid.as_str()) {
            continue;
        }
        let Some(key) = keys.get(&signature.keyid) else {
            continue;
        };
        // A key listed under an id that is not its own is not that key.
        if key.key_id() != signature.keyid || key.keytype != "ed25519" || key.scheme != "ed25519" {
            continue;
        }
        let (Ok(public), Ok(sig)) = (key.bytes(), hex::decode(&signature.sig)) else {
            continue;
        };
        let verifier = signature::UnparsedPublicKey::new(&signature::ED25519, public);
        if verifier.verify(&bytes, &sig).is_ok() {
            valid.insert(&signature.keyid);
        }
    }
    if threshold > 0 && valid.len() >= threshold {
        Ok(())
    } else {
        Err(SigningError::Threshold {
            role: role.to_owned(),
            valid: valid.len(),
            threshold,
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 8032 §7.1, TEST 1: secret key and its public key.
    const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_EMPTY_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    /// A PKCS#8 v1 wrapper around a raw ed25519 seed (RFC 8410).
    fn pkcs8_from_seed(seed_hex: &str) -> Vec<u8> {
        let mut doc = hex::decode("302e020100300506032b657004220420").unwrap();
        doc.extend(hex::decode(seed_hex).unwrap());
        doc
    }

    #[test]
    fn rfc8032_vector() {
        let key = SigningKey::from_pkcs8(&pkcs8_from_seed(RFC8032_SECRET)).unwrap();
        assert_eq!(key.public().keyval.public, RFC8032_PUBLIC);
        // Canonical JSON of "" is the two bytes `""`, not the empty message:
        // check the raw vector through ring directly, then our envelope.
        let raw = key.pair.sign(b"");
        assert_eq!(hex::encode(raw.as_ref()), RFC8032_EMPTY_SIG);
    }

    #[test]
    fn canonical_json_matches_securesystemslib() {
        // Checked against securesystemslib.formats.encode_canonical.
        let value = json!({"b": [1, true, null], "a": "q\"uo\\te", "é": {"z": 0, "y": -3}});
        assert_eq!(
            String::from_utf8(canonical_json(&value).unwrap()).unwrap(),
            r#"{"a":"q\"uo\\te","b":[1,true,null],"é":{"y":-3,"z":0}}"#
        );
        assert!(matches!(
            canonical_json(&json!({"x": 1.5})),
            Err(SigningError::Float(_))
        ));
    }

    #[test]
    fn key_ids_follow_tuf() {
        let key = PublicKey::ed25519(&hex::decode(RFC8032_PUBLIC).unwrap());
        // securesystemslib: sha256(encode_canonical(key)).hexdigest()
        let expected = "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";
        assert_eq!(key.key_id(), expected);
    }

    fn keys(n: usize) -> Vec<SigningKey> {
        (0..n)
            .map(|i| SigningKey::from_pkcs8(&pkcs8_from_seed(&format!("{:064x}", i + 1))).unwrap())
            .collect()
    }

    fn ring_of(keys: &[SigningKey]) -> (BTreeMap<String, PublicKey>, Vec<String>) {
        let map: BTreeMap<String, PublicKey> = keys
            .iter()
            .map(|k| (k.public().key_id(), k.public().clone()))
            .collect();
        let ids = map.keys().cloned().collect();
        (map, ids)
    }

    #[test]
    fn thresholds_count_distinct_valid_authorised_keys() {
        let keys = keys(3);
        let (map, ids) = ring_of(&keys[..2]);
        let doc = json!({"_type": "targets", "version": 3});
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(&doc).unwrap()).collect();
        verify_threshold("targets", &doc, &sigs[..2], &map, &ids, 2).unwrap();
        // The same key twice is one signature.
        let twice = vec![sigs[0].clone(), sigs[0].clone()];
        let err = verify_threshold("targets", &doc, &twice, &map, &ids, 2).unwrap_err();
        assert_eq!(
            err,
            SigningError::Threshold {
                role: "targets".into(),
                valid: 1,
                threshold: 2
            }
        );
        // A key that is not authorised counts for nothing.
        let outsider = vec![sigs[0].clone(), sigs[2].clone()];
        assert!(verify_threshold("targets", &doc, &outsider, &map, &ids, 2).is_err());
        // A signature over other content counts for nothing.
        let tampered = json!({"_type": "targets", "version": 4});
        assert!(verify_threshold("targets", &tampered, &sigs[..2], &map, &ids, 1).is_err());
        // A zero threshold never passes.
        assert!(verify_threshold("targets", &doc, &sigs, &map, &ids, 0).is_err());
    }

    #[test]
    fn a_key_listed_under_someone_elses_id_is_refused() {
        let keys = keys(2);
        let doc = json!({"v": 1});
        let sig = keys[1].sign(&doc).unwrap();
        let mut map = BTreeMap::new();
        map.insert(sig.keyid.clone(), keys[0].public().clone());
        let ids = vec![sig.keyid.clone()];
        assert!(verify_threshold("root", &doc, &[sig], &map, &ids, 1).is_err());
    }
}
