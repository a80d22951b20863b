//! The OpenAPI 3.1 document of the API, generated from the route table
//! ([`crate::routes::ROUTES`]: paths, methods, access) and from the Rust
//! types the handlers read and write (schemars derives on
//! `outpost_core::api` and the types it names), so that a field, a pattern
//! or a required parameter cannot be documented one way and enforced
//! another.
//!
//! The document is built natively and committed as `web/openapi.json`;
//! the Worker serves those bytes and carries no schema code (its size is a
//! budget, see "Edge-native hot path"). The test at the bottom fails when
//! the committed file and this generator disagree; `OUTPOST_BLESS=1 cargo
//! test -p outpost-worker openapi` rewrites it.
//!
//! Schemas follow the *deserialize* contract (what the Worker accepts), also
//! for answers: a field the Worker always writes may show as optional, never
//! the other way round. Every operation answers problems (RFC 9457) as
//! `application/problem+json` under `default`; 429 carries `Retry-After`.
//! Links (OpenAPI §4.8.20) join what a creation returns to the operations
//! that take it, for stateful testing and for generated clients.

use outpost_core::api;
use outpost_core::lifecycle::Stage;
use outpost_core::query::{DEFAULT_LIMIT, MAX_LIMIT};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::routes::{Access, ROUTES, Route, method_name};

/// Media types the API speaks besides JSON.
const PROBLEM_JSON: &str = "application/problem+json";
const OCTETS: &str = "application/octet-stream";

/// One operation being described.
struct Operation<'g> {
    generator: &'g mut SchemaGenerator,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
}

impl<'g> Operation<'g> {
    fn new(generator: &'g mut SchemaGenerator) -> Self {
        Operation {
            generator,
            parameters: Vec::new(),
            body: None,
            responses: Map::new(),
        }
    }

    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    fn query(mut self, name: &str, required: bool, schema: Value, description: &str) -> Self {
        self.parameters.push(json!({
            "name": name, "in": "query", "required": required,
            "schema": schema, "description": description,
        }));
        self
    }

    /// A query parameter that may be repeated (`?tag=a&tag=b`).
    fn repeated(self, name: &str, items: Value, description: &str) -> Self {
        self.repeated_within(name, (0, None), items, description)
    }

    /// A repeated query parameter that must appear `min` to `max` times.
    fn repeated_within(
        mut self,
        name: &str,
        (min, max): (usize, Option<usize>),
        items: Value,
        description: &str,
    ) -> Self {
        let mut schema = json!({"type": "array", "items": items});
        if min > 0 {
            schema["minItems"] = json!(min);
        }
        if let Some(max) = max {
            schema["maxItems"] = json!(max);
        }
        self.parameters.push(json!({
            "name": name, "in": "query", "required": min > 0,
            "style": "form", "explode": true,
            "schema": schema, "description": description,
        }));
        self
    }

    fn header(mut self, name: &str, required: bool, schema: Value, description: &str) -> Self {
        self.parameters.push(json!({
            "name": name, "in": "header", "required": required,
            "schema": schema, "description": description,
        }));
        self
    }

    fn json_body<T: JsonSchema>(mut self) -> Self {
        let schema = self.schema::<T>();
        self.body = Some(json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        }));
        self
    }

    /// A JSON body whose shape no Rust type names (a model's inputs).
    fn json_body_schema(mut self, schema: Value) -> Self {
        self.body = Some(json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        }));
        self
    }

    fn octet_body(mut self, description: &str) -> Self {
        self.body = Some(json!({
            "required": true, "description": description,
            "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}},
        }));
        self
    }

    fn answer(mut self, status: u16, description: &str, content: Option<Value>) -> Self {
        let mut response = json!({"description": description});
        if let Some(content) = content {
            response["content"] = content;
        }
        if status == 201 {
            response["headers"] = json!({"Location": {
                "description": "Where the created resource is read",
                "required": true, "schema": {"type": "string"},
            }});
        }
        self.responses.insert(status.to_string(), response);
        self
    }

    fn json<T: JsonSchema>(mut self, status: u16, description: &str) -> Self {
        let schema = self.schema::<T>();
        self.answer(
            status,
            description,
            Some(json!({"application/json": {"schema": schema}})),
        )
    }

    /// An answer that is one of several types.
    fn json_one_of(self, status: u16, description: &str, schemas: Vec<Value>) -> Self {
        self.answer(
            status,
            description,
            Some(json!({"application/json": {"schema": {"anyOf": schemas}}})),
        )
    }

    /// Artifact bytes with RFC 9110 validators and ranges
    /// (`crate::download`).
    fn download(self) -> Self {
        let validators = json!({
            "ETag": {"required": true, "schema": {"type": "string"}, "description": "The digest, strong"},
            "Last-Modified": {"required": true, "schema": {"type": "string"}},
            "Accept-Ranges": {"required": true, "schema": {"type": "string", "const": "bytes"}},
            "Vary": {"required": true, "schema": {"type": "string", "const": "Accept-Encoding"}},
            "Content-Encoding": {"required": false, "schema": {"type": "string", "const": "gzip"}, "description": "gzip when the artifact's gzip copy is sent (its ETag ends in `+gzip`)"},
        });
        let mut op = self
            .header(
                "Range",
                false,
                json!({"type": "string"}),
                "RFC 9110 §14.2: `bytes=` ranges; several give multipart/byteranges",
            )
            .header(
                "If-Match",
                false,
                json!({"type": "string"}),
                "RFC 9110 §13.1.1",
            )
            .header(
                "If-None-Match",
                false,
                json!({"type": "string"}),
                "RFC 9110 §13.1.2",
            )
            .header(
                "If-Modified-Since",
                false,
                json!({"type": "string"}),
                "RFC 9110 §13.1.3",
            )
            .header(
                "If-Unmodified-Since",
                false,
                json!({"type": "string"}),
                "RFC 9110 §13.1.4",
            )
            .header(
                "Accept-Encoding",
                false,
                json!({"type": "string"}),
                "RFC 9110 §12.5.3: on the blobs route, with gzip, a whole download of an artifact with a gzip copy is sent gzip-coded (the digest is of the decoded bytes); ranged downloads, and the TUF targets route, are always identity",
            )
            .header(
                "If-Range",
                false,
                json!({"type": "string"}),
                "RFC 9110 §13.1.5",
            )
            .answer(
                200,
                "The artifact",
                Some(json!({OCTETS: {"schema": {"type": "string", "format": "binary"}}})),
            )
            .answer(
                206,
                "One range, or several as multipart/byteranges",
                Some(json!({
                    OCTETS: {"schema": {"type": "string", "format": "binary"}},
                    "multipart/byteranges": {"schema": {"type": "string", "format": "binary"}},
                })),
            )
            .answer(304, "Not modified (If-None-Match, If-Modified-Since)", None);
        for status in ["200", "206", "304"] {
            op.responses[status]["headers"] = validators.clone();
        }
        op
    }

    fn finish(self, route: Route, summary: &str, access: Access, path_params: &[&str]) -> Value {
        let Operation {
            generator,
            mut parameters,
            body,
            mut responses,
        } = self;
        let mut path = Vec::new();
        for name in path_params {
            path.push(json!({
                "name": name, "in": "path", "required": true,
                "schema": path_schema(generator, name),
            }));
        }
        path.append(&mut parameters);
        responses.insert(
            "429".into(),
            json!({
                "description": "Rate limited (problem+json)",
                "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 0}, "description": "Seconds"}},
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }),
        );
        responses.insert(
            "default".into(),
            json!({
                "description": "An RFC 9457 problem",
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }),
        );
        let mut operation = json!({
            "operationId": format!("{route:?}"),
            "summary": summary,
            "parameters": path,
            "responses": responses,
        });
        if let Some(body) = body {
            operation["requestBody"] = body;
        }
        match access {
            Access::Public => {}
            Access::Bootstrap => operation["security"] = json!([{"bootstrap": []}]),
            Access::Org(role) => {
                operation["security"] = json!([{"token": []}]);
                operation["x-outpost-role"] = json!(role.as_str());
                if let Some(parameters) = operation["parameters"].as_array_mut() {
                    parameters.push(json!({
                        "name": crate::db::BOOKMARK_HEADER, "in": "header", "required": false,
                        "schema": {"type": "string", "pattern": crate::db::BOOKMARK_PATTERN},
                        "description": "A D1 Sessions API bookmark an earlier answer carried: this request reads at least what that one saw (read-your-writes across requests)",
                    }));
                }
            }
        }
        operation
    }
}

/// The schema of a path parameter, by its name in the route table.
fn path_schema(generator: &mut SchemaGenerator, name: &str) -> Value {
    use outpost_core::{auth, digest, version};
    match name {
        "org" => json!({"type": "string", "pattern": auth::ORG_NAME_PATTERN}),
        "model" => json!({"type": "string", "pattern": version::MODEL_NAME_PATTERN}),
        "version" => json!({"type": "string", "pattern": version::VERSION_PATTERN }),
        "stage" => generator.subschema_for::<Stage>().to_value(),
        "hex" => json!({"type": "string", "pattern": digest::HEX_PATTERN}),
        "coding" => json!({"type": "string", "enum": ["gzip"]}),
        "part" => {
            json!({"type": "integer", "minimum": 1, "maximum": outpost_core::upload::MAX_PARTS})
        }
        "file" => json!({"type": "string", "pattern": outpost_registry::trust::TRUST_FILE_PATTERN}),
        _ => json!({"type": "string", "minLength": 1}),
    }
}

/// A signed 64-bit integer (times in ms since the epoch).
fn int64() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
}

/// Bounds on the integers of generated schemas: JSON Schema's `integer` is
/// unbounded, the Rust fields are not, so a document without them would
/// allow numbers the Worker cannot read.
fn bound_integers(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        let bounds = match object.get("format").and_then(Value::as_str) {
            Some("uint8") => Some((json!(0), json!(u8::MAX))),
            Some("uint16") => Some((json!(0), json!(u16::MAX))),
            Some("uint32") => Some((json!(0), json!(u32::MAX))),
            Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
            Some("uint64") => Some((json!(0), json!(u64::MAX))),
            Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
            // usize and isize: 32 bits in the Worker (wasm32).
            Some("uint") => Some((json!(0), json!(u32::MAX))),
            Some("int") => Some((json!(i32::MIN), json!(i32::MAX))),
            _ => None,
        };
        if let Some((min, max)) = bounds {
            object.entry("minimum").or_insert(min);
            object.entry("maximum").or_insert(max);
        }
    }
    schemars::transform::transform_subschemas(&mut bound_integers, schema);
}

fn paged(op: Operation<'_>) -> Operation<'_> {
    op.query(
        "limit",
        false,
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
        "Items per page",
    )
    .query(
        "cursor",
        false,
        json!({"type": "string", "pattern": outpost_core::query::CURSOR_PATTERN}),
        "`next_cursor` of the previous page",
    )
}

fn stage_and_device(mut op: Operation<'_>) -> Operation<'_> {
    let stage = op.schema::<Stage>();
    op.query("stage", true, stage, "The stage asked for").query(
        "device",
        false,
        json!({"type": "string"}),
        "A stable device id: the same device always gets the same arm",
    )
}

/// The version search filters (`outpost_core::query::VersionQuery`).
fn search_filters(mut op: Operation<'_>, with_model: bool) -> Operation<'_> {
    use outpost_core::{query, version};
    let format = op.schema::<version::ArtifactFormat>();
    let status = op.schema::<api::VersionStatus>();
    let op = if with_model {
        op.query(
            "model",
            false,
            json!({"type": "string", "pattern": version::MODEL_NAME_PATTERN}),
            "Only this model",
        )
    } else {
        op
    };
    paged(
        op.repeated(
            "tag",
            json!({"type": "string", "pattern": version::TAG_PATTERN}),
            "Every one of these tags",
        )
        .repeated(
            "metric",
            json!({"type": "string", "pattern": query::METRIC_FILTER_PATTERN}),
            "`name>=0.9` (>=, <=, >, <, =, !=); all must hold",
        )
        .query("format", false, format, "Artifact format")
        .query(
            "author",
            false,
            json!({"type": "string"}),
            "Who registered it",
        )
        .query("status", false, status, "ready or unsafe")
        .query("created_after", false, int64(), "ms since the epoch")
        .query("created_before", false, int64(), "ms since the epoch")
        .query(
            "q",
            false,
            json!({"type": "string"}),
            "Text in the model's name or description or the version's notes",
        )
        .query(
            "sort",
            false,
            json!({"type": "string", "pattern": query::SORT_PATTERN}),
            "created, version, name or metric:NAME",
        )
        .query(
            "order",
            false,
            json!({"type": "string", "enum": ["asc", "desc"]}),
            "Default desc",
        ),
    )
}

/// Everything but the path parameters and access of one route.
fn describe(route: Route, mut op: Operation<'_>) -> Operation<'_> {
    use outpost_core::{profile, trust, upload};
    match route {
        Route::Healthz => op.json::<api::Health>(200, "The isolate is alive"),
        Route::Readyz => op.json::<outpost_core::readiness::ReadinessReport>(
            200,
            "D1 and R2 answer; a failed check is a 503 problem",
        ),
        Route::OpenApi => op.answer(
            200,
            "This document",
            Some(json!({"application/json": {"schema": {"type": "object"}}})),
        ),
        Route::AdminInit => op
            .json_body::<api::InitRequest>()
            .json::<api::InitResponse>(
                201,
                "The organisation and its first admin token (shown once)",
            ),
        Route::IsolateStats => op.json::<api::IsolateStats>(
            200,
            "Counters of the isolate that answered (each isolate keeps its own)",
        ),
        Route::GetOrg => op.json::<api::OrgRecord>(200, "The organisation"),
        Route::WhoAmI => op.json::<api::WhoAmI>(200, "The calling token"),
        Route::ListTokens => {
            op.json::<api::Items<api::TokenRecord>>(200, "Tokens, never their secrets")
        }
        Route::CreateToken => op
            .json_body::<api::CreateTokenRequest>()
            .json::<api::TokenCreated>(201, "The token; its text is shown only now"),
        Route::RevokeToken => op.json::<api::TokenRecord>(200, "The revoked token"),
        Route::ListModels => paged(op).json::<api::Page<api::ModelRecord>>(200, "A page of models"),
        Route::CreateModel => op
            .json_body::<api::CreateModelRequest>()
            .json::<api::ModelRecord>(201, "The model"),
        Route::GetModel => op.json::<api::ModelRecord>(200, "The model"),
        Route::PutBlob => op
            .header(
                crate::handlers::blobs::SIZE_HEADER,
                true,
                json!({"type": "integer", "minimum": 0, "maximum": upload::MAX_SINGLE_PUT_SIZE}),
                "The artifact's size in bytes (larger ones: a multipart upload)",
            )
            .octet_body("The artifact; its SHA-256 must be the path's")
            .json::<api::BlobRecord>(201, "Stored")
            .json::<api::BlobRecord>(200, "Identical content was already stored"),
        Route::PutCodedCopy => op
            .header(
                crate::handlers::blobs::SIZE_HEADER,
                true,
                json!({"type": "integer", "minimum": 0, "maximum": upload::MAX_SINGLE_PUT_SIZE}),
                "The copy's size in bytes",
            )
            .octet_body(
                "The artifact in the path's coding; kept only if it decodes to exactly the artifact and saves at least 1/16 of its bytes",
            )
            .json::<api::CodedCopyRecord>(201, "Checked and kept")
            .json::<api::CodedCopyRecord>(200, "A copy in this coding was already kept"),
        Route::GetBlob | Route::GetTarget => op.download(),
        Route::StartUpload => {
            let (state, stored) = (
                op.schema::<upload::UploadState>(),
                op.schema::<api::BlobRecord>(),
            );
            op.json_body::<upload::StartUpload>()
                .json::<upload::UploadState>(201, "A new multipart upload")
                .json_one_of(
                    200,
                    "The open upload of this digest, resumed; or the artifact, already stored",
                    vec![state, stored],
                )
        }
        Route::UploadStatus => op.json::<upload::UploadState>(200, "Parts received so far"),
        Route::PutUploadPart => op
            .header(
                crate::handlers::uploads::PART_DIGEST_HEADER,
                true,
                json!({"type": "string", "pattern": outpost_core::digest::DIGEST_PATTERN}),
                "The part's sha256",
            )
            .octet_body("The part's bytes")
            .json::<api::PartStored>(200, "The part, verified"),
        Route::CompleteUpload => {
            op.json::<api::BlobRecord>(201, "The assembled artifact, re-hashed end to end")
        }
        Route::AbortUpload => op.json::<api::UploadAborted>(200, "Aborted; its parts are gone"),
        Route::ListVersions => search_filters(op, false)
            .json::<api::Page<api::VersionRecord>>(200, "A page of the model's versions"),
        Route::RegisterVersion => {
            op.json_body::<api::RegisterVersionRequest>()
                .json::<api::RegisteredVersion>(201, "The version, and how its number was chosen")
        }
        Route::GetVersion => op.json::<api::VersionRecord>(200, "The version"),
        Route::ChangeTags => op
            .json_body::<api::TagChange>()
            .json::<api::VersionRecord>(200, "The version with its new tags"),
        Route::SearchVersions => search_filters(op, true)
            .json::<api::Page<api::VersionRecord>>(200, "A page of matching versions"),
        Route::LatestVersion => {
            search_filters(op, true).json::<api::VersionRecord>(200, "The newest matching version")
        }
        Route::CompareVersions => op
            .repeated_within(
                "v",
                (2, Some(20)),
                json!({"type": "string", "pattern": outpost_core::query::MODEL_AT_VERSION_PATTERN}),
                "model@version, 2 to 20 times",
            )
            .repeated(
                "metric",
                json!({"type": "string", "pattern": outpost_core::query::METRIC_NAME_PATTERN}),
                "Metrics to show; all when absent",
            )
            .json::<api::Comparison>(200, "Side by side, with the best per metric"),
        Route::ListStages => op.json::<api::StagesView>(200, "Every stage's state"),
        Route::GetStage => op.json::<api::StageView>(200, "The stage's version and state"),
        Route::Promote => op
            .json_body::<api::PromoteRequest>()
            .json::<outpost_core::lifecycle::Deployment>(201, "The history entry of the move")
            .json::<api::StageOutcome>(200, "The stage already runs this version"),
        Route::Rollback => {
            op.json_body::<api::RollbackRequest>()
                .json::<outpost_core::lifecycle::Deployment>(201, "The history entry of the move")
        }
        Route::GetRollout => op.json::<api::RolloutView>(200, "The stage's rollout"),
        Route::PutRollout => op
            .json_body::<api::RolloutRequest>()
            .json::<outpost_core::lifecycle::Deployment>(201, "The history entry of the change")
            .json::<api::StageOutcome>(200, "The stage already has this rollout"),
        Route::ClearRollout => op
            .query(
                "reason",
                false,
                json!({"type": "string"}),
                "Recorded in the history",
            )
            .json::<api::StageOutcome>(200, "The stage, back to its stable version alone"),
        Route::History => {
            let stage = op.schema::<Stage>();
            paged(op.query("stage", false, stage, "Only this stage")).json::<api::Page<
                outpost_core::lifecycle::Deployment,
            >>(
                200,
                "Stage moves, newest first",
            )
        }
        Route::DeleteVersion => op
            .query(
                "force",
                false,
                json!({"type": "boolean"}),
                "Admins: also clear the stages that run it",
            )
            .query(
                "reason",
                false,
                json!({"type": "string"}),
                "Recorded in the audit log",
            )
            .json::<api::Deleted>(200, "Deleted"),
        Route::GetPolicy => op.json::<api::ModelPolicies>(200, "Promotion and retention policies"),
        Route::PutPolicy => op
            .json_body::<api::ModelPolicies>()
            .json::<api::ModelPolicies>(200, "The policies as stored"),
        Route::PlanRetention => op.json::<api::RetentionReport>(200, "What retention would delete"),
        Route::ApplyRetention => op.json::<api::RetentionReport>(200, "What retention deleted"),
        Route::ListAudit => op
            .query("action", false, json!({"type": "string"}), "Exact action")
            .query(
                "outcome",
                false,
                json!({"type": "string"}),
                "ok or denied (any other value matches nothing)",
            )
            .query("actor", false, json!({"type": "string"}), "Exact actor")
            .query("target", false, json!({"type": "string"}), "Target prefix")
            .query(
                "after",
                false,
                json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
                "Entries after this sequence number",
            )
            .query(
                "cursor",
                false,
                json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
                "`next_cursor` of the previous page",
            )
            .query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
                "Entries per page",
            )
            .json::<api::Page<outpost_core::audit::AuditEntry>>(200, "Entries in chain order"),
        Route::DeploymentKeys => {
            op.json::<api::DeploymentKeys>(200, "The online and director public keys")
        }
        Route::PutRoot => op
            .json_body::<trust::Envelope>()
            .json::<api::TrustStored>(201, "The root, verified and stored"),
        Route::PutTargets => op.json_body::<trust::Envelope>().json::<api::TrustStored>(
            201,
            "The release, verified and stored; snapshot and timestamp re-signed",
        ),
        Route::GetTrustFile => op.json::<trust::Envelope>(200, "Signed TUF metadata"),
        Route::Resolve => {
            stage_and_device(op).json::<trust::Envelope>(200, "A director-signed resolution")
        }
        Route::Predict => stage_and_device(op)
            .json_body_schema(json!({
                "type": "object",
                "description": "Input names to row-major nested arrays, e.g. {\"X\": [[0.1, 2.0, 3.5, 1.0]]}",
                "additionalProperties": {"description": "A nested array, or one value for a rank-0 input"},
            }))
            .json::<api::Prediction>(200, "The routed version's outputs"),
        Route::ShadowResults => {
            let stage = op.schema::<Stage>();
            op.query("stage", false, stage, "Only this stage")
                .query(
                    "limit",
                    false,
                    json!({"type": "integer", "minimum": 1, "maximum": 500}),
                    "Default 50",
                )
                .json::<api::ShadowResults>(200, "Recent shadow runs")
        }
        Route::PostTelemetry => op
            .json_body::<api::TelemetryReport>()
            .json::<api::TelemetryAccepted>(202, "Stored for reports"),
        Route::Performance => op
            .query(
                "since",
                false,
                int64(),
                "ms since the epoch; all time when absent",
            )
            .query(
                "step",
                false,
                json!({"type": "string", "pattern": outpost_core::telemetry::WINDOW_PATTERN}),
                "Also a series in buckets this wide from since, e.g. 1h (needs since; at most 720 buckets to now)",
            )
            .json::<api::PerformanceReport>(200, "Per version, stage and source (and per bucket with step)"),
        Route::PostFeedback => op
            .json_body::<api::FeedbackRequest>()
            .json::<api::FeedbackAccepted>(202, "Stored (repeats counted as duplicates)"),
        Route::PostOutcomes => op
            .json_body::<api::OutcomeReport>()
            .json::<api::OutcomesAccepted>(202, "Stored, or kept from before under this id"),
        Route::Stats => op.json::<outpost_core::stats::RegistryStats>(
            200,
            "Holdings now; usage over the last 24 hours and 30 days (each isolate writes its counts after a request once a minute has passed)",
        ),
        Route::GetEncryption => op.json::<outpost_core::at_rest::EncryptionStatus>(
            200,
            "The state now; `pending` falls as the cron seals artifacts",
        ),
        Route::EnableEncryption => op.json::<outpost_core::at_rest::EncryptionStatus>(
            200,
            "On (already on: unchanged); 503 when the Worker has no OUTPOST_AT_REST_SECRET",
        ),
        Route::RotateKey => op.json::<outpost_core::at_rest::EncryptionStatus>(
            200,
            "The new key version; 409 while encryption is off",
        ),
        Route::ImportModel => op
            .json_body::<outpost_core::bundle::ModelExport>()
            .json::<outpost_core::bundle::ImportOutcome>(201, "Imported")
            .json::<outpost_core::bundle::ImportOutcome>(
                200,
                "This export was imported already: nothing changed (`unchanged: true`)",
            ),
        Route::BackupTable => op
            .query(
                "after",
                false,
                json!({"type": "integer", "minimum": 0}),
                "Start after this position (the previous page's `next`); 0 or absent: from the first row",
            )
            .query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 1, "maximum": outpost_core::backup::MAX_PAGE_ROWS}),
                "Rows per page (default and most: 500)",
            )
            .answer(
            200,
            "`{table, columns, rows, next}`: up to `limit` rows (at most 500) after position `after`, each an array of the row's values in column order; `next` is where the following page starts, null after the last",
            Some(json!({"application/json": {"schema": {"type": "object", "required": ["table", "columns", "rows", "next"]}}})),
        ),
        Route::StartRestore => op.json::<outpost_core::backup::RestoreProgress>(
            200,
            "Begun, or how far the unfinished restore came; 409 when the organisation exists",
        ),
        Route::RestoreTable => op
            .json_body::<outpost_core::backup::Page>()
            .answer(
                200,
                "`{restored}`: the rows written",
                Some(json!({"application/json": {"schema": {"type": "object", "required": ["restored"], "properties": {"restored": {"type": "integer", "minimum": 0}}}}})),
            ),
        Route::RestoreArtifact => op
            .header(
                crate::handlers::blobs::SIZE_HEADER,
                true,
                json!({"type": "integer", "minimum": 0, "maximum": upload::MAX_SINGLE_PUT_SIZE}),
                "The artifact's size in bytes",
            )
            .octet_body("The artifact; its SHA-256 must be the path's")
            .answer(
                200,
                "`{digest, size}`: stored",
                Some(json!({"application/json": {"schema": {"type": "object", "required": ["digest", "size"]}}})),
            ),
        Route::FinishRestore => op.json::<outpost_core::backup::RestoreFinished>(
            200,
            "Finished; 409 while an artifact is missing",
        ),
        Route::ListImports => op.json::<Vec<outpost_core::bundle::ImportRecord>>(
            200,
            "Every import into the model, oldest first",
        ),
        Route::Quality => {
            let stage = op.schema::<Stage>();
            op.query(
                "version",
                true,
                json!({"type": "string", "pattern": outpost_core::version::VERSION_PATTERN}),
                "The version whose outcomes to score",
            )
            .query(
                "window",
                false,
                json!({"type": "string", "pattern": outpost_core::telemetry::WINDOW_PATTERN}),
                "How far back, e.g. 24h (the default; at most 30d)",
            )
            .query("stage", false, stage, "Only outcomes of predictions at this stage")
            .query(
                "positive",
                false,
                json!({"type": "string", "minLength": 1, "maxLength": 128}),
                "The positive class (default: 1 or true when present)",
            )
            .query(
                "low",
                false,
                json!({"type": "number", "minimum": 0, "maximum": 1}),
                "Top scores below this are low-confidence (0.5)",
            )
            .json::<api::QualityView>(200, "Quality over the window")
        }
        Route::PutReference => op
            .json_body::<profile::ReferenceProfile>()
            .json::<profile::ReferenceProfile>(201, "Stored")
            .json::<profile::ReferenceProfile>(200, "The same profile was already stored"),
        Route::GetReference => op.json::<profile::ReferenceProfile>(200, "The reference profile"),
        Route::DriftReport => {
            let stage = op.schema::<Stage>();
            op.query(
                "version",
                true,
                json!({"type": "string", "pattern": outpost_core::version::VERSION_PATTERN}),
                "The version whose telemetry to test",
            )
            .query(
                "window",
                false,
                json!({"type": "string", "pattern": outpost_core::telemetry::WINDOW_PATTERN}),
                "How far back, e.g. 1h (at most 30d)",
            )
            .query("stage", false, stage, "Only this stage's telemetry")
            .query(
                "share",
                false,
                json!({"type": "number", "minimum": 0, "maximum": 1}),
                "Share of drifted features that is dataset drift (0.5)",
            )
            .json::<api::DriftReportView>(200, "Per feature and for the dataset")
        }
        Route::PutMonitor => op
            .json_body::<outpost_core::monitor::MonitorPolicy>()
            .json::<api::MonitorView>(200, "Set; its episodes start over"),
        Route::GetMonitor => op.json::<api::MonitorView>(200, "The monitor and its last check"),
        Route::MonitorHistory => op
            .query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 1, "maximum": 500}),
                "Default 50",
            )
            .json::<api::MonitorHistory>(200, "Checks, newest first"),
        Route::GetGuardrails => {
            op.json::<api::GuardrailStatus>(200, "The canary's guardrails and last check")
        }
        Route::ListWebhooks => {
            op.json::<api::Webhooks>(200, "Endpoints and the events one may subscribe to")
        }
        Route::CreateWebhook => op
            .json_body::<api::CreateWebhook>()
            .json::<api::WebhookCreated>(201, "The endpoint; its secret is shown only now"),
        Route::DeleteWebhook => op.json::<api::WebhookDeleted>(200, "Removed"),
        Route::ListDeliveries => paged(op.query(
            "status",
            false,
            json!({"type": "string", "enum": ["pending", "delivered", "failed"]}),
            "Only these",
        ))
        .json::<api::Deliveries>(200, "Deliveries, newest first"),
        Route::Metrics => op.answer(
            200,
            "OpenMetrics 1.0 text",
            Some(json!({
                outpost_core::openmetrics::CONTENT_TYPE: {"schema": {"type": "string"}},
            })),
        ),
    }
}

/// Links from what a creation returns to the operations that take it.
fn links(paths: &mut Map<String, Value>) {
    let link = |paths: &mut Map<String, Value>,
                (path, method, status): (&str, &str, &str),
                name: &str,
                target: &str,
                parameters: Value| {
        if let Some(response) = paths
            .get_mut(path)
            .and_then(|p| p.get_mut(method))
            .and_then(|o| o.get_mut("responses"))
            .and_then(|r| r.get_mut(status))
        {
            response["links"][name] = json!({"operationId": target, "parameters": parameters});
        }
    };
    let model = ("/v1/orgs/{org}/models", "post", "201");
    let by_name = json!({"org": "$request.path.org", "model": "$response.body#/name"});
    for (name, target) in [
        ("GetModel", "GetModel"),
        ("ListVersions", "ListVersions"),
        ("ListStages", "ListStages"),
        ("History", "History"),
        ("GetPolicy", "GetPolicy"),
    ] {
        link(paths, model, name, target, by_name.clone());
    }
    let version = ("/v1/orgs/{org}/models/{model}/versions", "post", "201");
    let by_version = json!({"org": "$request.path.org", "model": "$request.path.model", "version": "$response.body#/version"});
    for (name, target) in [
        ("GetVersion", "GetVersion"),
        ("ChangeTags", "ChangeTags"),
        ("GetReference", "GetReference"),
        ("DeleteVersion", "DeleteVersion"),
    ] {
        link(paths, version, name, target, by_version.clone());
    }
    let token = ("/v1/orgs/{org}/tokens", "post", "201");
    link(
        paths,
        token,
        "RevokeToken",
        "RevokeToken",
        json!({"org": "$request.path.org", "token": "$response.body#/id"}),
    );
    let upload = ("/v1/orgs/{org}/uploads", "post", "201");
    let by_upload = json!({"org": "$request.path.org", "upload": "$response.body#/id"});
    for name in ["UploadStatus", "CompleteUpload", "AbortUpload"] {
        link(paths, upload, name, name, by_upload.clone());
    }
    let webhook = ("/v1/orgs/{org}/webhooks", "post", "201");
    let by_webhook = json!({"org": "$request.path.org", "webhook": "$response.body#/id"});
    for name in ["DeleteWebhook", "ListDeliveries"] {
        link(paths, webhook, name, name, by_webhook.clone());
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_deserialize()
        .with_transform(bound_integers)
        .into_generator();
    let problem = generator.subschema_for::<outpost_core::Problem>();
    let mut paths = Map::new();
    for spec in ROUTES {
        let params: Vec<&str> = spec
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix(':'))
            .collect();
        let operation = describe(spec.route, Operation::new(&mut generator)).finish(
            spec.route,
            spec.summary,
            spec.access,
            &params,
        );
        let entry = paths
            .entry(openapi_path(spec.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method_name(&spec.method).to_lowercase()] = operation;
    }
    links(&mut paths);
    let mut schemas = generator.take_definitions(true);
    if !schemas.contains_key("Problem") {
        schemas.insert("Problem".into(), problem.to_value());
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Outpost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A model registry for edge and browser ML. Errors are RFC 9457 problem details (application/problem+json).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "An organisation token `opt_<id>_<secret>` with a role"},
                "bootstrap": {"type": "http", "scheme": "bearer", "description": "The deployment's OUTPOST_BOOTSTRAP_SECRET"},
            },
            "schemas": schemas,
        },
    })
}

/// OpenAPI path template (`{org}`) of a matchit pattern (`:org`).
pub fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/openapi.json");

    fn rendered() -> String {
        let mut text = serde_json::to_string_pretty(&document()).unwrap();
        text.push('\n');
        text
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let fresh = rendered();
        if std::env::var_os("OUTPOST_BLESS").is_some() {
            std::fs::write(COMMITTED, &fresh).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == fresh,
            "web/openapi.json is not what the route table and types generate; \
             run `OUTPOST_BLESS=1 cargo test -p outpost-worker openapi` and commit it"
        );
    }

    #[test]
    fn every_route_is_documented_once_with_its_path_parameters() {
        let doc = document();
        let mut operations = 0;
        for spec in ROUTES {
            let op =
                &doc["paths"][openapi_path(spec.path)][method_name(&spec.method).to_lowercase()];
            assert_eq!(op["operationId"], format!("{:?}", spec.route));
            let declared = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .count();
            assert_eq!(declared, spec.path.matches(':').count(), "{}", spec.path);
            operations += 1;
        }
        assert_eq!(operations, ROUTES.len());
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = serde_json::to_string(&doc).unwrap();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }

    /// Every string over `alphabet` up to `max_len` characters.
    fn strings(alphabet: &str, max_len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max_len {
            let next: Vec<String> = last
                .iter()
                .flat_map(|s| alphabet.chars().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    /// A pattern the document declares and the parser that enforces it
    /// accept exactly the same strings among `samples`: the document may
    /// neither allow what the Worker refuses (schemathesis'
    /// positive_data_acceptance) nor refuse what it accepts
    /// (negative_data_rejection).
    fn agree(pattern: &str, accepts: impl Fn(&str) -> bool, samples: &[String]) {
        let regex = regex::Regex::new(pattern).unwrap();
        for sample in samples {
            assert_eq!(
                regex.is_match(sample),
                accepts(sample),
                "`{sample}` against {pattern}"
            );
        }
    }

    fn with(mut base: Vec<String>, extra: &[&str]) -> Vec<String> {
        base.extend(extra.iter().map(|s| (*s).to_owned()));
        base
    }

    #[test]
    fn declared_patterns_accept_what_the_parsers_accept() {
        use outpost_core::{auth, digest, query, telemetry, version};
        let names = with(
            strings("aZ0-._:@ ", 3),
            &[
                &"a".repeat(63),
                &"a".repeat(64),
                &"a".repeat(128),
                &"a".repeat(129),
                "a-",
                "a\n",
            ],
        );
        agree(
            auth::ORG_NAME_PATTERN,
            |s| auth::validate_org_name(s).is_ok(),
            &names,
        );
        agree(
            version::MODEL_NAME_PATTERN,
            |s| version::validate_model_name(s).is_ok(),
            &names,
        );
        agree(
            version::TAG_PATTERN,
            |s| version::validate_tag(s).is_ok(),
            &names,
        );
        agree(
            query::METRIC_NAME_PATTERN,
            |s| query::validate_metric_name(s).is_ok(),
            &names,
        );

        let bookmarks = with(
            strings("0af-gA ", 4),
            &[
                "00000001-00000002-00004f95-88ad2ae8d67b6d0fc0a0226d9e1d72c5",
                &"a".repeat(64),
                &"a".repeat(65),
                "1-2-3-4-5-6-7-8",
                "1-2-3-4-5-6-7-8-9",
            ],
        );
        agree(
            crate::db::BOOKMARK_PATTERN,
            crate::db::is_bookmark,
            &bookmarks,
        );

        let versions = with(
            strings("01.-a+", 5),
            &[
                "1.2.3",
                "1.2.3-rc.1",
                "1.2.3-0a",
                "1.2.3-01",
                "1.2.3+b",
                "01.2.3",
                "9999999999999999999.0.0",
                "18446744073709551616.0.0",
                "1.0.0-184467440737095516160000",
                "1.0.0-alpha..1",
                "1.0.0-",
                "v1.0.0",
            ],
        );
        agree(
            version::VERSION_PATTERN,
            |s| version::parse_version(s).is_ok(),
            &versions,
        );

        let mut windows = with(
            strings("01hdms+ ", 3),
            &[
                "30d", "31d", "720h", "721h", "43200m", "43201m", "2592000s", "2592001s", "1e3s",
                "-1h",
            ],
        );
        for n in (1..=2_600_000).step_by(997).chain(2_591_990..=2_592_010) {
            windows.push(format!("{n}s"));
        }
        for n in (1..=45_000).step_by(7).chain(43_190..=43_210) {
            windows.push(format!("{n}m"));
        }
        for n in 1..=800 {
            windows.push(format!("{n}h"));
        }
        for n in 1..=40 {
            windows.push(format!("{n}d"));
        }
        agree(
            telemetry::WINDOW_PATTERN,
            |s| telemetry::parse_window(s).is_ok(),
            &windows,
        );

        let filters = with(
            strings("f1<>=!.-e+ ", 4),
            &[
                "f1>=0.9",
                "f1>= 0.9",
                "f1>=.9",
                "f1>=9.",
                "f1>=1e5",
                "f1>=1e400",
                "f1>=inf",
                "f1>=-0",
                "f1>=01",
                "f1!=2",
                "a.b-c_d<-1.5E-3",
            ],
        );
        agree(
            query::METRIC_FILTER_PATTERN,
            |s| query::MetricFilter::parse(s).is_ok(),
            &filters,
        );

        let sorts = with(
            strings("a:", 2),
            &[
                "created",
                "version",
                "name",
                "metric:f1",
                "metric:",
                "metric:f 1",
                "Created",
            ],
        );
        agree(
            query::SORT_PATTERN,
            |s| query::SortKey::parse(s).is_ok(),
            &sorts,
        );

        let cursors = with(
            strings("o0aA+f", 3),
            &[
                &format!("o{}", "f".repeat(16)),
                &format!("o{}", "f".repeat(17)),
                "o1ff",
            ],
        );
        agree(
            query::CURSOR_PATTERN,
            |s| query::decode_cursor(s).is_ok(),
            &cursors,
        );

        let files = with(
            strings("0123.", 2),
            &[
                "root.json",
                "timestamp.json",
                "snapshot.json",
                "targets.json",
                "1.root.json",
                "01.root.json",
                "1.timestamp.json",
                "0.targets.json",
                "+1.root.json",
                "9999999999999999999.root.json",
                "99999999999999999999.root.json",
                "root.JSON",
            ],
        );
        agree(
            outpost_registry::trust::TRUST_FILE_PATTERN,
            |s| outpost_registry::trust::parse_trust_file(s).is_some(),
            &files,
        );

        let hex = "ab".repeat(32);
        let digests = vec![
            format!("sha256:{hex}"),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{hex}0"),
            format!("sha512:{hex}"),
            hex.clone(),
        ];
        agree(
            digest::DIGEST_PATTERN,
            |s| s.parse::<outpost_core::Digest>().is_ok(),
            &digests,
        );
        let hexes = vec![
            hex.clone(),
            hex.to_uppercase(),
            format!("{hex}0"),
            hex[1..].to_owned(),
        ];
        agree(
            digest::HEX_PATTERN,
            |s| outpost_core::Digest::from_hex(s).is_ok(),
            &hexes,
        );
    }

    #[test]
    fn bodies_that_are_read_are_required() {
        let doc = document();
        let body = &doc["paths"]["/v1/orgs/{org}/models/{model}/versions"]["post"]["requestBody"];
        assert_eq!(body["required"], true);
        let schema = &doc["components"]["schemas"]["RegisterVersionRequest"];
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["digest", "size"]);
    }
}
