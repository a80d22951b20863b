//! Telemetry reported by clients: a window validated by the core (bounded,
//! consistent, never raw inputs), for a registered version, stored as sent.

use outpost_core::lifecycle::Stage;
use outpost_core::telemetry::TelemetryWindow;

use crate::error::RegistryError;
use crate::ports::{Models, Telemetry, Versions};

/// `POST …/models/{model}/telemetry`.
///
/// Errors: `InvalidWindow`, `TelemetryForUnknownVersion` (422),
/// `ModelNotFound` (404), `Store`.
pub async fn report_window(
    ports: &(impl Models + Versions + Telemetry),
    org: &str,
    (model, version, stage): (&str, &str, Stage),
    window: &TelemetryWindow,
) -> Result<(), RegistryError> {
    window.validate().map_err(RegistryError::InvalidWindow)?;
    known_version(ports, org, model, version).await?;
    ports
        .insert_window(org, (model, version, stage, "client"), window)
        .await?;
    Ok(())
}

/// That `model@version` is registered, for what clients report about it.
///
/// Errors: `TelemetryForUnknownVersion` (422), `ModelNotFound` (404), `Store`.
pub(crate) async fn known_version(
    ports: &(impl Models + Versions),
    org: &str,
    model: &str,
    version: &str,
) -> Result<(), RegistryError> {
    if ports
        .version_artifacts(org, model, &[version])
        .await?
        .is_empty()
    {
        if !ports.model_exists(org, model).await? {
            return Err(RegistryError::ModelNotFound {
                org: org.to_owned(),
                model: model.to_owned(),
            });
        }
        return Err(RegistryError::TelemetryForUnknownVersion {
            model: model.to_owned(),
            version: version.to_owned(),
        });
    }
    Ok(())
}
