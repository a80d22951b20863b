//! The deployment's online keys, read from Worker secrets (or plain vars in
//! local development): the snapshot/timestamp key, the director key, and the
//! routing salt derived from the director secret.

use base64::Engine;
use outpost_core::Digest;
use outpost_core::signing::SigningKey;
use outpost_registry::StoreError;

/// Worker secret: the online snapshot/timestamp key (base64 PKCS#8).
pub const ONLINE_KEY: &str = "OUTPOST_ONLINE_KEY";
/// Worker secret: the director key that signs resolutions (base64 PKCS#8).
pub const DIRECTOR_KEY: &str = "OUTPOST_DIRECTOR_KEY";

fn secret(env: &worker::Env, name: &str) -> Result<String, StoreError> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .map_err(|_| {
            StoreError::NotConfigured(format!(
                "signed distribution is not configured: the Worker has no {name} secret"
            ))
        })
}

thread_local! {
    /// Keys this isolate parsed, by secret name, with the secret's digest:
    /// parsing derives the public key (one scalar multiplication, as costly
    /// as a signature), which a resolve would otherwise repeat per request.
    /// A changed secret (a new deployment) is parsed again.
    static PARSED: std::cell::RefCell<Vec<(String, Digest, SigningKey)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An online signing key from its secret (503 when the secret is missing).
pub fn online_key(env: &worker::Env, name: &str) -> Result<SigningKey, StoreError> {
    let text = secret(env, name)?;
    let digest = Digest::of(text.as_bytes());
    let kept = PARSED.with(|parsed| {
        parsed
            .borrow()
            .iter()
            .find(|(kept, seen, _)| kept == name && *seen == digest)
            .map(|(_, _, key)| key.clone())
    });
    if let Some(key) = kept {
        return Ok(key);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| StoreError::new(format!("{name} is not base64")))?;
    let key = SigningKey::from_pkcs8(&bytes)
        .map_err(|_| StoreError::new(format!("{name} is not an ed25519 PKCS#8 key")))?;
    PARSED.with(|parsed| {
        let mut parsed = parsed.borrow_mut();
        parsed.retain(|(kept, _, _)| kept != name);
        parsed.push((name.to_owned(), digest, key.clone()));
    });
    Ok(key)
}

/// The routing salt: keyed by the director secret, so it is stable for the
/// deployment and unknown to anyone who could choose device ids.
pub fn routing_salt(env: &worker::Env) -> Result<Digest, StoreError> {
    let secret = secret(env, DIRECTOR_KEY)?;
    Ok(Digest::of(
        format!("outpost-routing-salt\0{secret}").as_bytes(),
    ))
}
