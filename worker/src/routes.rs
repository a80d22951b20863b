//! The route table: every path the Worker answers, with its methods and who
//! may call it.
//!
//! One table drives dispatch, the 404/405 decision, the access check and the
//! OpenAPI document, so they cannot drift apart.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use outpost_core::auth::Role;
use worker::Method;

/// What a request is asking for, once its path and method are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Healthz,
    Readyz,
    OpenApi,
    AdminInit,
    IsolateStats,
    GetOrg,
    WhoAmI,
    ListTokens,
    CreateToken,
    RevokeToken,
    ListModels,
    CreateModel,
    GetModel,
    PutBlob,
    PutCodedCopy,
    GetBlob,
    StartUpload,
    UploadStatus,
    PutUploadPart,
    CompleteUpload,
    AbortUpload,
    ListVersions,
    RegisterVersion,
    GetVersion,
    ChangeTags,
    SearchVersions,
    LatestVersion,
    CompareVersions,
    ListStages,
    GetStage,
    Promote,
    Rollback,
    GetRollout,
    PutRollout,
    ClearRollout,
    History,
    DeleteVersion,
    GetPolicy,
    PutPolicy,
    PlanRetention,
    ApplyRetention,
    ListAudit,
    DeploymentKeys,
    PutRoot,
    PutTargets,
    GetTrustFile,
    GetTarget,
    Resolve,
    Predict,
    ShadowResults,
    PostTelemetry,
    Performance,
    PostFeedback,
    PostOutcomes,
    Quality,
    Stats,
    GetEncryption,
    EnableEncryption,
    RotateKey,
    ImportModel,
    ListImports,
    BackupTable,
    StartRestore,
    RestoreTable,
    RestoreArtifact,
    FinishRestore,
    PutMonitor,
    GetMonitor,
    MonitorHistory,
    PutReference,
    GetReference,
    DriftReport,
    GetGuardrails,
    ListWebhooks,
    CreateWebhook,
    DeleteWebhook,
    ListDeliveries,
    Metrics,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// The deployment's bootstrap secret (creating the first organisation).
    Bootstrap,
    /// A token of the organisation named in the path, with at least this role.
    Org(Role),
}

/// The rate-limit class of a route (`outpost_core::ratelimit`): the write
/// and expensive routes; `None` for the rest.
pub fn rate_class(route: Route) -> Option<outpost_core::ratelimit::Class> {
    use outpost_core::ratelimit::Class;
    match route {
        Route::PutBlob
        | Route::PutCodedCopy
        | Route::StartUpload
        | Route::PutUploadPart
        | Route::CompleteUpload => Some(Class::Upload),
        Route::Predict => Some(Class::Predict),
        Route::DriftReport | Route::Performance | Route::Quality | Route::Stats => {
            Some(Class::Report)
        }
        Route::PostTelemetry | Route::PostFeedback | Route::PostOutcomes => Some(Class::Telemetry),
        _ => None,
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: Method,
    /// matchit syntax: `:name` is a path parameter.
    pub path: &'static str,
    pub route: Route,
    pub access: Access,
    /// One line for the OpenAPI document: generated natively, and the
    /// Worker serves the committed file, so the wasm build carries none of
    /// these lines (a few KB of the Worker's size budget).
    #[cfg(not(target_arch = "wasm32"))]
    pub summary: &'static str,
}

#[cfg_attr(
    target_arch = "wasm32",
    expect(unused_variables, reason = "summaries are native only")
)]
const fn spec(
    method: Method,
    path: &'static str,
    route: Route,
    access: Access,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        route,
        access,
        #[cfg(not(target_arch = "wasm32"))]
        summary,
    }
}

use Access::{Bootstrap, Org, Public};
use Role::{Admin, Developer, Operator, Viewer};

pub const ROUTES: &[RouteSpec] = &[
    spec(
        Method::Get,
        "/healthz",
        Route::Healthz,
        Public,
        "Liveness; touches no dependency",
    ),
    spec(
        Method::Get,
        "/readyz",
        Route::Readyz,
        Public,
        "Readiness of D1, R2 and the inference Worker",
    ),
    spec(
        Method::Get,
        "/openapi.json",
        Route::OpenApi,
        Public,
        "This API's OpenAPI 3.1 document",
    ),
    spec(
        Method::Post,
        "/v1/admin/init",
        Route::AdminInit,
        Bootstrap,
        "Create the first organisation and its admin token",
    ),
    spec(
        Method::Get,
        "/v1/admin/isolate",
        Route::IsolateStats,
        Bootstrap,
        "This isolate's counters: requests, D1 statements, kept plans and tokens",
    ),
    spec(
        Method::Post,
        "/v1/admin/restores/:org",
        Route::StartRestore,
        Bootstrap,
        "Begin restoring an organisation this registry does not have from a backup (`outpost restore`), or see how far an unfinished restore came",
    ),
    spec(
        Method::Post,
        "/v1/admin/restores/:org/tables/:table",
        Route::RestoreTable,
        Bootstrap,
        "Write one page of a backed-up table into the organisation being restored, all or nothing",
    ),
    spec(
        Method::Put,
        "/v1/admin/restores/:org/blobs/sha256/:hex",
        Route::RestoreArtifact,
        Bootstrap,
        "Store an artifact the restored rows name, re-hashed on the way in (no audit entry: the chain is the one restored)",
    ),
    spec(
        Method::Post,
        "/v1/admin/restores/:org/finish",
        Route::FinishRestore,
        Bootstrap,
        "Finish a restore once every artifact is stored: the organisation takes no more restore writes",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org",
        Route::GetOrg,
        Org(Viewer),
        "Show the organisation",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/whoami",
        Route::WhoAmI,
        Org(Viewer),
        "Show the calling token",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/tokens",
        Route::ListTokens,
        Org(Admin),
        "List tokens (never their secrets)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/tokens",
        Route::CreateToken,
        Org(Admin),
        "Create a token; its text is shown once",
    ),
    spec(
        Method::Delete,
        "/v1/orgs/:org/tokens/:token",
        Route::RevokeToken,
        Org(Admin),
        "Revoke a token",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models",
        Route::ListModels,
        Org(Viewer),
        "List models",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models",
        Route::CreateModel,
        Org(Developer),
        "Create a model",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model",
        Route::GetModel,
        Org(Viewer),
        "Show a model",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/blobs/sha256/:hex",
        Route::PutBlob,
        Org(Developer),
        "Upload an artifact; refused unless its sha256 and size match",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/blobs/sha256/:hex/codings/:coding",
        Route::PutCodedCopy,
        Org(Developer),
        "Keep a compressed copy of an artifact, checked by decoding it, for clients that accept its coding",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/blobs/sha256/:hex",
        Route::GetBlob,
        Org(Viewer),
        "Download an artifact (ETag, Range, If-None-Match)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/uploads",
        Route::StartUpload,
        Org(Developer),
        "Start (or resume) a multipart upload of a large artifact",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/uploads/:upload",
        Route::UploadStatus,
        Org(Developer),
        "Show an upload and the parts received",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/uploads/:upload/parts/:part",
        Route::PutUploadPart,
        Org(Developer),
        "Upload one part, checked against its declared sha256",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/uploads/:upload/complete",
        Route::CompleteUpload,
        Org(Developer),
        "Assemble the parts and verify the whole artifact",
    ),
    spec(
        Method::Delete,
        "/v1/orgs/:org/uploads/:upload",
        Route::AbortUpload,
        Org(Developer),
        "Abandon an upload",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/versions",
        Route::ListVersions,
        Org(Viewer),
        "List a model's versions with filters",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/versions",
        Route::RegisterVersion,
        Org(Developer),
        "Register an immutable version",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/versions/:version",
        Route::GetVersion,
        Org(Viewer),
        "Show a version",
    ),
    spec(
        Method::Patch,
        "/v1/orgs/:org/models/:model/versions/:version/tags",
        Route::ChangeTags,
        Org(Developer),
        "Add or remove a version's tags",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/versions",
        Route::SearchVersions,
        Org(Viewer),
        "Search versions across models",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/versions/latest",
        Route::LatestVersion,
        Org(Viewer),
        "The latest version matching the filters",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/compare",
        Route::CompareVersions,
        Org(Viewer),
        "Compare versions side by side on chosen metrics",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages",
        Route::ListStages,
        Org(Viewer),
        "Every stage of a model as it is now",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages/:stage",
        Route::GetStage,
        Org(Viewer),
        "The version a client asking for model@stage gets",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/stages/:stage/promote",
        Route::Promote,
        Org(Operator),
        "Promote a version through the gates (admins may force with a reason)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/stages/:stage/rollback",
        Route::Rollback,
        Org(Operator),
        "Roll a stage back to its previous or a named earlier version",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages/:stage/rollout",
        Route::GetRollout,
        Org(Viewer),
        "A stage's traffic split: stable, canary, A/B variants and shadow",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/models/:model/stages/:stage/rollout",
        Route::PutRollout,
        Org(Operator),
        "Set a stage's canary, A/B variants and shadow (weights in basis points; new versions pass the promotion gates)",
    ),
    spec(
        Method::Delete,
        "/v1/orgs/:org/models/:model/stages/:stage/rollout",
        Route::ClearRollout,
        Org(Operator),
        "Send all of a stage's traffic to its stable version again",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/imports",
        Route::ImportModel,
        Org(Admin),
        "Import an exported model (`outpost import` sends each model of a bundle after uploading its artifacts): versions as they were, safety re-decided here, history and audit kept as history, stages untouched (idempotent per export)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/backup/tables/:table",
        Route::BackupTable,
        // Every row of the organisation: token hashes, the whole audit log.
        Org(Admin),
        "A page of the organisation's rows of one table, as stored (`outpost backup`); artifact storage columns and webhook secrets are never included",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/imports",
        Route::ListImports,
        // The source's audit entries are in it: what its Operators read.
        Org(Operator),
        "What was imported into the model, oldest first: source, versions added and present, verified releases, the source's history and audit entries",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/history",
        Route::History,
        Org(Viewer),
        "The append-only deployment history",
    ),
    spec(
        Method::Delete,
        "/v1/orgs/:org/models/:model/versions/:version",
        Route::DeleteVersion,
        Org(Admin),
        "Delete a version that no stage uses (force with a reason)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/policy",
        Route::GetPolicy,
        Org(Viewer),
        "The model's promotion and retention policies",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/models/:model/policy",
        Route::PutPolicy,
        Org(Operator),
        "Set the model's promotion and retention policies",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/retention",
        Route::PlanRetention,
        Org(Operator),
        "What retention would delete, and why",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/retention",
        Route::ApplyRetention,
        Org(Operator),
        "Apply retention: delete exactly the planned versions",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/audit",
        Route::ListAudit,
        Org(Operator),
        "The hash-chained audit log, in chain order",
    ),
    spec(
        Method::Get,
        "/v1/keys",
        Route::DeploymentKeys,
        Public,
        "This deployment's online public keys (for trust init)",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/trust/root",
        Route::PutRoot,
        Org(Admin),
        "Store the first root or a rotation (verified)",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/trust/targets",
        Route::PutTargets,
        Org(Operator),
        "Store release (TUF targets) metadata signed offline; re-signs snapshot and timestamp",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/trust/:file",
        Route::GetTrustFile,
        Org(Viewer),
        "Trust metadata: root/targets/snapshot/timestamp.json, N.root/N.targets/N.snapshot.json",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/trust/targets/:model/:file",
        Route::GetTarget,
        Org(Viewer),
        "A target file as TUF clients fetch it: VERSION, or SHA256.VERSION (consistent snapshots)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/resolve",
        Route::Resolve,
        Org(Viewer),
        "A director-signed resolution: which released artifact this device runs (?stage=&device=)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/predict",
        Route::Predict,
        Org(Viewer),
        "Run the version this device resolves to (?stage=&device=) on {input: nested array}; the shadow runs too, recorded",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/shadow-results",
        Route::ShadowResults,
        Org(Viewer),
        "What the shadow version answered for recent predictions, beside the served answer (?stage=&limit=)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/telemetry",
        Route::PostTelemetry,
        Org(Viewer),
        "Report a telemetry window {version, stage, window}: counts, errors, latency and feature histograms (validated, bounded)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/performance",
        Route::Performance,
        Org(Viewer),
        "Calls, error rate and latency p50/p95/p99 per version, stage and source (?since=ms), and per bucket of ?step= (e.g. 1h) from since",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/feedback",
        Route::PostFeedback,
        Org(Viewer),
        "Give outcomes for Worker predictions {outcomes: [{prediction_id, row, label, value}]} (idempotent per prediction and row)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/models/:model/outcomes",
        Route::PostOutcomes,
        Org(Viewer),
        "Report a device's aggregated outcome window {version, stage, id, window}: confusion counts, score histograms, never inputs (idempotent per id)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/quality",
        Route::Quality,
        Org(Viewer),
        "A version's quality from outcomes: accuracy, precision/recall/F1, ROC AUC, calibration, confidence, against its registered metrics (?version=&stage=&window=&positive=&low=)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/stats",
        Route::Stats,
        Org(Viewer),
        "Registry statistics: models, versions per stage, bytes per model (logical, stored, dedup ratio), resolves and downloads per model over 24 h and 30 d",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/encryption",
        Route::GetEncryption,
        Org(Viewer),
        "Encryption at rest: on or off, the key version, and artifacts per key version (how many the background job has left to seal)",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/encryption",
        Route::EnableEncryption,
        Org(Admin),
        "Seal the organisation's artifacts at rest (AES-256-GCM, 64 KiB chunks) from now on; the cron seals existing ones (idempotent)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/encryption/rotate",
        Route::RotateKey,
        Org(Admin),
        "Move to the next key version: new artifacts at once, existing ones re-sealed by the cron, every download served throughout",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/models/:model/versions/:version/reference",
        Route::PutReference,
        Org(Developer),
        "Store the version's reference profile (once; `outpost push --reference` computes it)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/versions/:version/reference",
        Route::GetReference,
        Org(Viewer),
        "The version's reference profile: per feature its type, bin edges, histogram, summary and sample",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/drift",
        Route::DriftReport,
        Org(Viewer),
        "Drift of a version's telemetry against its reference profile (?version=&window=1h&stage=&share=0.5)",
    ),
    spec(
        Method::Put,
        "/v1/orgs/:org/models/:model/stages/:stage/monitor",
        Route::PutMonitor,
        Org(Operator),
        "Set the stage's monitor: drift share, quality floors or drop, confidence, error and latency lines the cron checks every deployed version against",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages/:stage/monitor",
        Route::GetMonitor,
        Org(Viewer),
        "The stage's monitor, its episodes and its last check",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages/:stage/monitor/history",
        Route::MonitorHistory,
        Org(Viewer),
        "The stage monitor's checks, newest first (?limit=)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/models/:model/stages/:stage/guardrails",
        Route::GetGuardrails,
        Org(Viewer),
        "The stage's guardrails and the cron's last verdict with what it measured",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/webhooks",
        Route::ListWebhooks,
        Org(Admin),
        "Webhook endpoints of the organisation (secrets are never shown again)",
    ),
    spec(
        Method::Post,
        "/v1/orgs/:org/webhooks",
        Route::CreateWebhook,
        Org(Admin),
        "Register an endpoint {url, events}; answers its signing secret once",
    ),
    spec(
        Method::Delete,
        "/v1/orgs/:org/webhooks/:webhook",
        Route::DeleteWebhook,
        Org(Admin),
        "Remove an endpoint; its pending deliveries fail, the log stays",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/webhooks/:webhook/deliveries",
        Route::ListDeliveries,
        Org(Admin),
        "Deliveries to an endpoint, newest first, with attempts and responses (?status=&limit=&cursor=)",
    ),
    spec(
        Method::Get,
        "/v1/orgs/:org/metrics",
        Route::Metrics,
        Org(Viewer),
        "OpenMetrics text for Prometheus-compatible scrapers: requests, errors, latency, cache hits, predictions",
    ),
];

/// A matched request: the route's row and its path parameters.
#[derive(Debug)]
pub struct Matched {
    pub spec: &'static RouteSpec,
    pub params: BTreeMap<String, String>,
}

impl Matched {
    /// A path parameter the route's pattern guarantees.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub enum Dispatch {
    Found(Matched),
    /// The path exists but not with this method; lists the methods that do.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

type Table = matchit::Router<Vec<&'static RouteSpec>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut paths: Vec<(&'static str, Vec<&'static RouteSpec>)> = Vec::new();
        for spec in ROUTES {
            match paths.iter_mut().find(|(path, _)| *path == spec.path) {
                Some((_, specs)) => specs.push(spec),
                None => paths.push((spec.path, vec![spec])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, specs) in paths {
            // The table is a constant; a conflict is a programming error that
            // the route tests catch before it ships.
            if let Err(err) = router.insert(path, specs) {
                worker::console_error!("route table conflict at {path}: {err}");
            }
        }
        router
    })
}

/// The method a request names, exactly (RFC 9110 §9.1: methods are
/// case-sensitive); `None` for any other token. workers-rs reads an unknown
/// method (`QUERY`, `get`) as GET, so the raw text is what decides here.
fn known_method(raw: &str) -> Option<Method> {
    Some(match raw {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => return None,
    })
}

/// The route of a request line: its raw method text and path.
pub fn dispatch(raw_method: &str, path: &str) -> Dispatch {
    let Ok(matched) = table().at(path) else {
        return Dispatch::NotFound;
    };
    // HEAD is answered wherever GET is; the runtime drops the body.
    let wanted = match known_method(raw_method) {
        Some(Method::Head) => Some(Method::Get),
        other => other,
    };
    match matched
        .value
        .iter()
        .find(|spec| Some(&spec.method) == wanted.as_ref())
    {
        Some(spec) => Dispatch::Found(Matched {
            spec,
            params: matched
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }),
        None => Dispatch::MethodNotAllowed(
            matched
                .value
                .iter()
                .map(|spec| method_name(&spec.method))
                .collect(),
        ),
    }
}

pub fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concrete(path: &str) -> String {
        path.split('/')
            .map(|seg| match seg.strip_prefix(':') {
                Some("hex") => "a".repeat(64),
                Some(name) => format!("x-{name}"),
                None => seg.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_route_dispatches_to_itself() {
        for spec in ROUTES {
            match dispatch(method_name(&spec.method), &concrete(spec.path)) {
                Dispatch::Found(m) => assert_eq!(m.spec.route, spec.route, "{}", spec.path),
                other => panic!("{} {}: {other:?}", method_name(&spec.method), spec.path),
            }
        }
    }

    #[test]
    fn static_segments_win_over_parameters() {
        match dispatch("GET", "/v1/orgs/acme/versions/latest") {
            Dispatch::Found(m) => assert_eq!(m.spec.route, Route::LatestVersion),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert!(matches!(dispatch("GET", "/nope"), Dispatch::NotFound));
        assert!(matches!(
            dispatch("HEAD", "/healthz"),
            Dispatch::Found(Matched {
                spec: RouteSpec {
                    route: Route::Healthz,
                    ..
                },
                ..
            })
        ));
        match dispatch("DELETE", "/healthz") {
            Dispatch::MethodNotAllowed(allowed) => assert_eq!(allowed, vec!["GET"]),
            other => panic!("{other:?}"),
        }
        // Tokens workers-rs would read as GET are not GET.
        for method in ["QUERY", "get", "PROPFIND", "TRACE"] {
            assert!(
                matches!(dispatch(method, "/healthz"), Dispatch::MethodNotAllowed(_)),
                "{method}"
            );
        }
    }

    #[test]
    fn every_org_route_names_the_org_in_its_path() {
        for spec in ROUTES {
            if let Access::Org(_) = spec.access {
                assert!(spec.path.starts_with("/v1/orgs/:org"), "{}", spec.path);
            }
        }
    }
}
