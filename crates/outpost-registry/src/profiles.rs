//! A version's reference profile: validated by the core, written once (the
//! same profile again changes nothing; another one is refused, since a
//! reference is as immutable as its version), with its audit entry.

use outpost_core::profile::ReferenceProfile;
use serde_json::json;

use crate::error::RegistryError;
use crate::ports::{Actor, AuditEvent, Change, Commit, CommitError, Profiles, VersionDetails};

/// Whether the profile was stored now or was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    Unchanged,
}

/// `PUT …/versions/{version}/reference`.
///
/// Errors: `InvalidProfile` (422), `NoSuchVersion` (404), `ReferenceExists`,
/// `ReferenceRaced` (409), `Store`.
pub async fn set_reference(
    ports: &(impl VersionDetails + Profiles + Commit),
    org: &str,
    actor: &Actor,
    (model, version): (&str, &str),
    profile: ReferenceProfile,
) -> Result<Stored, RegistryError> {
    profile.validate().map_err(RegistryError::InvalidProfile)?;
    if ports.version_record(org, model, version).await?.is_none() {
        return Err(RegistryError::NoSuchVersion {
            org: org.to_owned(),
            model: model.to_owned(),
            version: version.to_owned(),
        });
    }
    if let Some(existing) = ports.reference_profile(org, model, version).await? {
        return if existing == profile {
            Ok(Stored::Unchanged)
        } else {
            Err(RegistryError::ReferenceExists {
                model: model.to_owned(),
                version: version.to_owned(),
            })
        };
    }
    let names: Vec<&str> = profile.features.iter().map(|f| f.name.as_str()).collect();
    let event = AuditEvent {
        actor: actor.clone(),
        action: "version.reference".into(),
        target: format!("models/{model}/versions/{version}"),
        details: json!({"rows": profile.rows, "features": names}),
    };
    let change = Change::SetReference {
        model: model.to_owned(),
        version: version.to_owned(),
        profile: Box::new(profile),
        created_by: actor.history_name().to_owned(),
    };
    match ports.commit(org, vec![change], event).await {
        Ok(()) => Ok(Stored::Created),
        Err(CommitError::Conflict(_)) => Err(RegistryError::ReferenceRaced {
            model: model.to_owned(),
            version: version.to_owned(),
        }),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}
