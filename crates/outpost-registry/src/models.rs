//! Creating models: a name inside an organisation, validated by the core,
//! created with its audit entry; a name taken already is a conflict.

use outpost_core::api::CreateModelRequest;
use serde_json::json;

use crate::error::RegistryError;
use crate::ports::{Actor, AuditEvent, Change, Commit, CommitError};

/// `POST …/models`.
///
/// Errors: `InvalidModel` (422), `ModelExists` (409), `Store`.
pub async fn create_model(
    ports: &impl Commit,
    org: &str,
    actor: &Actor,
    request: &CreateModelRequest,
) -> Result<(), RegistryError> {
    request.validate().map_err(RegistryError::InvalidModel)?;
    let event = AuditEvent {
        actor: actor.clone(),
        action: "model.create".into(),
        target: format!("models/{}", request.name),
        details: json!({"tags": request.tags}),
    };
    let change = Change::CreateModel {
        request: request.clone(),
        created_by: actor.history_name().to_owned(),
    };
    match ports.commit(org, vec![change], event).await {
        Ok(()) => Ok(()),
        Err(CommitError::Conflict(_)) => Err(RegistryError::ModelExists {
            org: org.to_owned(),
            model: request.name.clone(),
        }),
        Err(CommitError::Store(err)) => Err(err.into()),
    }
}
