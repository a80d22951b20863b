//! Command-line flags as given (the raw layer). `config` turns the connection
//! flags into validated settings; each command validates its own arguments.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "outpost",
    version,
    about = "Outpost: a model registry for edge and browser ML",
    long_about = "Outpost keeps models in a Cloudflare Worker (metadata in D1, artifacts in R2) \
                  and ships them signed to edge devices and browsers.\n\n\
                  Connection settings come from flags, then OUTPOST_URL / OUTPOST_ORG / OUTPOST_TOKEN, \
                  then the profile file (OUTPOST_CONFIG, default ~/.config/outpost/config.toml)."
)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the registry is and who we are there.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnArgs {
    /// Registry base URL, e.g. http://127.0.0.1:8787.
    #[arg(long, global = true, env = "OUTPOST_URL")]
    pub url: Option<String>,
    /// Organisation.
    #[arg(long, global = true, env = "OUTPOST_ORG")]
    pub org: Option<String>,
    /// API token (opt_…).
    #[arg(long, global = true, env = "OUTPOST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Profile in the config file.
    #[arg(long, global = true, env = "OUTPOST_PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that a registry is up and its dependencies (D1, R2) are reachable.
    Health,
    /// Bootstrap administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show the organisation, or manage its encryption at rest.
    Org(OrgArgs),
    /// Registry statistics: models, versions per stage, bytes per model
    /// (logical, stored, dedup ratio), resolves and downloads per model over
    /// the last 24 hours and 30 days.
    Stats,
    /// Write models with their versions, artifacts, reference profiles,
    /// release signatures, deployment history and audit entries to a
    /// self-describing bundle (docs/bundle.md) for `outpost import`.
    Export(ExportArgs),
    /// Import a bundle from `outpost export` into this organisation: every
    /// file checked against the manifest, every artifact re-hashed and
    /// uploaded, versions registered as they were (admin; idempotent).
    Import(ImportArgs),
    /// Back up the organisation into a directory (docs/backup.md): every
    /// row as stored, every artifact by digest. Incremental: artifacts
    /// already in the directory are not downloaded again (admin token).
    Backup(BackupArgs),
    /// Restore a backup into a registry that does not have the
    /// organisation (the deployment's bootstrap secret); an interrupted
    /// restore goes on where it stopped when run again.
    Restore(RestoreArgs),
    /// Manage API tokens (admin).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Upload an artifact and register it as a new version, in one step.
    Push(PushArgs),
    /// List, show and search versions.
    #[command(subcommand)]
    Versions(VersionsCommand),
    /// Compare versions side by side on their metrics.
    Compare(CompareArgs),
    /// Add or remove tags of a version.
    Tag(TagArgs),
    /// Download a version's artifact and check its digest and size.
    Pull(PullArgs),
    /// Offer the registry a gzip copy of a version's artifact (what `push`
    /// does by default): the artifact is downloaded and checked, compressed,
    /// and the copy kept if it saves at least 1/16 of the bytes.
    Compress { model: String, version: String },
    /// Re-check a model `pull ORG/MODEL@STAGE` installed, offline: director
    /// signature, release metadata and the bytes on disk.
    Verify(VerifyArgs),
    /// Run a model on an input file: natively (a local .onnx file) or in the
    /// registry's Worker (ORG/MODEL@STAGE, routed like --device-id).
    Predict(PredictArgs),
    /// Promote a version to a stage through the promotion gates.
    Promote(PromoteArgs),
    /// Roll a stage back to its previous state or to a named earlier version.
    Rollback(RollbackArgs),
    /// Show stages.
    #[command(subcommand)]
    Stages(StagesCommand),
    /// A stage's traffic split: sticky canary, A/B variants, shadow.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Show a model's deployment history, newest first.
    History {
        model: String,
        #[arg(long)]
        stage: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Delete a version no stage uses (admin; --force with --reason clears non-production stages).
    Delete {
        model: String,
        version: String,
        #[arg(long, requires = "reason")]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Promotion policy (metric requirements per stage).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Calls, error rate and latency p50/p95/p99 per version, stage and source,
    /// from the telemetry clients reported and the Worker recorded.
    Perf {
        model: String,
        /// Only windows received since this time (ms since the epoch).
        #[arg(long)]
        since: Option<i64>,
    },
    /// Give outcomes (what actually happened) for Worker predictions: one
    /// with flags, or many from a JSON file. Giving one again changes nothing.
    Feedback {
        model: String,
        /// The `prediction_id` a Worker `predict` answered with.
        #[arg(long, required_unless_present = "file")]
        prediction: Option<String>,
        /// The row of that prediction's inputs (from 0).
        #[arg(long, default_value_t = 0)]
        row: u32,
        /// The true class.
        #[arg(long, required_unless_present = "file")]
        label: Option<String>,
        /// Business value of this outcome (e.g. money saved).
        #[arg(long)]
        value: Option<f64>,
        /// A JSON file of outcomes: `{"outcomes": [{"prediction_id", "row", "label", "value"}]}`.
        #[arg(long, conflicts_with_all = ["prediction", "label", "value"])]
        file: Option<std::path::PathBuf>,
    },
    /// A version's quality from the outcomes given and reported over a
    /// window: accuracy, precision/recall/F1 per class, ROC AUC,
    /// calibration, confidence, beside the metrics it was registered with.
    Quality {
        model: String,
        #[arg(long)]
        version: String,
        /// Only outcomes of predictions at this stage.
        #[arg(long)]
        stage: Option<String>,
        /// How far back: 90s, 15m, 24h, 7d (at most 30d).
        #[arg(long, default_value = "24h")]
        window: String,
        /// The positive class (default: 1 or true when present).
        #[arg(long)]
        positive: Option<String>,
        /// Top scores below this count as low-confidence.
        #[arg(long)]
        low: Option<f64>,
    },
    /// Monitors: the lines the cron holds a stage's deployed versions to,
    /// and what it found.
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// Drift reports (computed locally with the same statistics as the registry).
    #[command(subcommand)]
    Drift(DriftCommand),
    /// A version's reference profile: add one (if it has none) or show it.
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Webhook endpoints of the organisation and their deliveries (admin).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Retention policy, plan and apply.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The audit log: list entries, verify the hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Signing keys (ed25519).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Trust metadata: create and rotate the root (offline).
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Release signing (offline release keys).
    #[command(subcommand)]
    Release(ReleaseCommand),
}

/// `outpost rollout set`'s guardrails (boxed: they are most of its size).
#[derive(Debug, clap::Args)]
pub struct GuardrailFlags {
    /// Guardrail: roll the canary back when its error rate exceeds this share.
    #[arg(long, value_name = "SHARE")]
    pub max_error_rate: Option<f64>,
    /// Guardrail: roll the canary back when its p95 latency exceeds this (ms, ≤ 1000).
    #[arg(long, value_name = "MS")]
    pub max_p95_ms: Option<f64>,
    /// Guardrail: roll the canary back when this share of features drifts.
    #[arg(long, value_name = "SHARE")]
    pub max_drift_share: Option<f64>,
    /// Guardrail: roll the canary back when its error rate is worse than
    /// the stable arm's, by an always-valid test with this false-alarm
    /// rate (e.g. 0.05).
    #[arg(long, value_name = "ALPHA")]
    pub compare_with_stable: Option<f64>,
    /// Guardrail: roll the canary back when the F1 of its predictions'
    /// outcomes falls below this (judged after 50 outcomes).
    #[arg(long, value_name = "F1")]
    pub min_f1: Option<f64>,
    /// Guardrail: roll the canary back when the precision of its
    /// predictions' outcomes falls below this (judged after 50 outcomes).
    #[arg(long, value_name = "PRECISION")]
    pub min_precision: Option<f64>,
    /// Guardrail: roll the canary back when the recall of its
    /// predictions' outcomes falls below this (judged after 50 outcomes).
    #[arg(long, value_name = "RECALL")]
    pub min_recall: Option<f64>,
    /// Calls the canary must serve before guardrails judge it.
    #[arg(long, default_value_t = 20)]
    pub min_calls: u64,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show how a stage splits its traffic.
    Show {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
    },
    /// Set a stage's canary, A/B variants and shadow; every version new to
    /// the stage passes the promotion gates.
    Set {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
        /// The version the rest of the traffic goes to (default: the current one).
        #[arg(long)]
        stable: Option<String>,
        /// VERSION:PERCENT, e.g. 1.2.0:10 (sticky per device id).
        #[arg(long, value_name = "VERSION:PERCENT")]
        canary: Option<String>,
        /// VERSION:PERCENT, repeatable: A/B variants after the canary.
        #[arg(long = "variant", value_name = "VERSION:PERCENT")]
        variants: Vec<String>,
        /// A version clients run beside the answer, for telemetry only.
        #[arg(long)]
        shadow: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
        /// Admins only, with --reason: override the policy and staging gates.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        guardrails: Box<GuardrailFlags>,
    },
    /// A stage's guardrails and the cron's last verdict.
    Guardrails {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
    },
    /// Send all of a stage's traffic to its stable version again.
    Clear {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Add MODEL/VERSION (several versions at once if given) to the
    /// organisation's release metadata and sign it.
    Sign {
        model: String,
        #[arg(required = true)]
        versions: Vec<String>,
        /// Release private keys (.pk8), repeatable (as many as the threshold).
        #[arg(long = "key", required = true)]
        keys: Vec<std::path::PathBuf>,
        #[arg(long, default_value = "90d")]
        expires_in: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an ed25519 key: NAME.pk8 (private, mode 0600) and NAME.pub.json.
    Generate {
        /// Path prefix of the two files.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Save this deployment's online public keys (online.pub.json, director.pub.json).
    FetchKeys {
        #[arg(long)]
        out_dir: std::path::PathBuf,
    },
    /// Upload root metadata (the first one, or a rotation).
    Upload { root: std::path::PathBuf },
    /// Create root metadata version 1, signed by the root keys.
    Init {
        /// Root private keys (.pk8), repeatable; all of them sign.
        #[arg(long = "root-key", required = true)]
        root_keys: Vec<std::path::PathBuf>,
        #[arg(long, default_value_t = 1)]
        root_threshold: usize,
        /// Release (TUF targets) keys: .pub.json or .pk8, repeatable.
        #[arg(long = "release-key", required = true)]
        release_keys: Vec<std::path::PathBuf>,
        #[arg(long, default_value_t = 1)]
        release_threshold: usize,
        /// The online snapshot/timestamp key (a Worker secret).
        #[arg(long = "online-key", required = true)]
        online_keys: Vec<std::path::PathBuf>,
        /// The online director key (a Worker secret).
        #[arg(long = "director-key", required = true)]
        director_keys: Vec<std::path::PathBuf>,
        /// Lifetime, e.g. 365d.
        #[arg(long, default_value = "365d")]
        expires_in: String,
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Create root version N+1 with new root keys, signed by a threshold of the old and the new.
    Rotate {
        /// The currently trusted root.json.
        #[arg(long)]
        current: std::path::PathBuf,
        /// Old root private keys that sign the rotation, repeatable.
        #[arg(long = "old-key", required = true)]
        old_keys: Vec<std::path::PathBuf>,
        /// New root private keys, repeatable; all of them sign.
        #[arg(long = "root-key", required = true)]
        root_keys: Vec<std::path::PathBuf>,
        #[arg(long, default_value_t = 1)]
        root_threshold: usize,
        #[arg(long, default_value = "365d")]
        expires_in: String,
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    pub model: String,
    pub version: String,
    /// development, staging, canary, production or archived.
    #[arg(long = "to")]
    pub stage: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Admin only, with --reason: override the policy and staging gates.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub model: String,
    #[arg(long)]
    pub stage: String,
    /// An earlier version of that stage (default: the previous state).
    #[arg(long = "to-version")]
    pub version: Option<String>,
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum StagesCommand {
    /// Every stage of a model as it is now.
    Show { model: String },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Replace the promotion policy: each --require applies to --stage (repeatable) or to every stage.
    Set {
        model: String,
        /// A metric requirement such as f1>=0.85 (repeatable).
        #[arg(long = "require")]
        requirements: Vec<String>,
        /// Stages the requirements apply to (default: all).
        #[arg(long = "stage")]
        stages: Vec<String>,
    },
    /// Show the promotion and retention policies.
    Show { model: String },
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Set (or replace) a stage's monitor; its episodes start over.
    Set {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
        /// Signal drift above this share of drifted features (0–1).
        #[arg(long)]
        max_drift_share: Option<f64>,
        /// Floors (0–1) of F1, precision and recall from outcomes.
        #[arg(long)]
        min_f1: Option<f64>,
        #[arg(long)]
        min_precision: Option<f64>,
        #[arg(long)]
        min_recall: Option<f64>,
        /// Largest relative drop of a registered metric (0.1 = 10 %).
        #[arg(long)]
        max_drop: Option<f64>,
        /// Largest share of outcomes whose top score is below --low.
        #[arg(long)]
        max_low_confidence: Option<f64>,
        /// The top score below which an outcome is low-confidence.
        #[arg(long, default_value_t = 0.6)]
        low: f64,
        #[arg(long)]
        max_error_rate: Option<f64>,
        #[arg(long)]
        max_p95_ms: Option<f64>,
        /// Calls needed before drift, errors and latency are judged.
        #[arg(long, default_value_t = 100)]
        min_calls: u64,
        /// Outcomes needed before quality and confidence are judged.
        #[arg(long, default_value_t = 50)]
        min_outcomes: u64,
        /// How far back each check looks.
        #[arg(long, default_value = "24h")]
        window: String,
        /// Recommend retraining above this share of drifted features.
        #[arg(long, default_value_t = 0.3)]
        retrain_drift_share: f64,
        /// Do not recommend retraining when only a quality floor or drop is
        /// crossed (by default it is recommended).
        #[arg(long)]
        no_retrain_on_quality: bool,
    },
    /// The monitor, its open episodes and its last check.
    Show {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
    },
    /// The monitor's checks, newest first.
    History {
        model: String,
        #[arg(long, default_value = "production")]
        stage: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Set the retention policy (keeps the promotion policy).
    Set {
        model: String,
        #[arg(long)]
        keep_last: Option<u32>,
        /// e.g. f1>=0.8: versions failing it are dropped.
        #[arg(long)]
        min_metric: Option<String>,
        #[arg(long)]
        max_age_days: Option<u32>,
        #[arg(long)]
        keep_deployed_within_days: Option<u32>,
    },
    /// List what would be deleted, and why (a dry run).
    Plan { model: String },
    /// Delete exactly what the plan lists.
    Apply { model: String },
}

#[derive(Debug, Subcommand)]
pub enum DriftCommand {
    /// Compare two CSV files (header row; numeric and string columns) with
    /// Evidently's default test per column, as the registry would.
    Compare {
        reference: std::path::PathBuf,
        current: std::path::PathBuf,
        /// Share of drifted columns at which the dataset drifts.
        #[arg(long, default_value_t = 0.5)]
        share: f64,
        /// Exit non-zero when the dataset drifts (for CI pipelines).
        #[arg(long)]
        fail_on_drift: bool,
    },
    /// The registry's drift report: a version's telemetry over a window
    /// against its reference profile.
    Report {
        model: String,
        #[arg(long)]
        version: String,
        /// Look-back: 15m, 1h, 24h, 7d … (at most 30d).
        #[arg(long, default_value = "1h")]
        window: String,
        /// Only telemetry from this stage.
        #[arg(long)]
        stage: Option<String>,
        #[arg(long, default_value_t = 0.5)]
        share: f64,
        /// Exit non-zero when the dataset drifts.
        #[arg(long)]
        fail_on_drift: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries (filters are exact; --target matches a prefix).
    List {
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Recompute the hash chain and report the first broken link.
    Verify,
}

#[derive(Debug, Args)]
pub struct OrgArgs {
    #[command(subcommand)]
    pub command: Option<OrgCommand>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Encryption at rest: artifacts stored as AES-256-GCM under a key per
    /// organisation and key version, derived from the Worker's
    /// OUTPOST_AT_REST_SECRET.
    #[command(subcommand)]
    Encryption(EncryptionCommand),
}

#[derive(Debug, Subcommand)]
pub enum EncryptionCommand {
    /// Whether it is on, the key version, and how many artifacts the
    /// background job (the cron, every 5 minutes) has left to seal.
    Status,
    /// Seal new artifacts from now on; existing ones are sealed by the
    /// background job (admin; enabling twice changes nothing).
    Enable,
    /// Move to the next key version: new artifacts at once, existing ones
    /// re-sealed by the background job; downloads keep working throughout
    /// (admin).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first organisation and its admin token with the bootstrap secret.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Name of the organisation to create (a-z, 0-9, '-').
    #[arg(long = "new-org")]
    pub new_org: String,
    /// The deployment's bootstrap secret.
    #[arg(long, env = "OUTPOST_BOOTSTRAP_SECRET", hide_env_values = true)]
    pub bootstrap_secret: String,
    /// Save URL, organisation and the new admin token as this profile.
    #[arg(long)]
    pub save_profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its text is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// viewer, developer, operator or admin.
        #[arg(long)]
        role: String,
        /// Lifetime, e.g. 3600, 90m, 12h, 30d.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Create a model.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Metric that `--bump auto` and comparisons rank by, e.g. f1.
        #[arg(long)]
        primary_metric: Option<String>,
        /// The primary metric improves downwards (a loss).
        #[arg(long, requires = "primary_metric")]
        lower_is_better: bool,
    },
    /// List models.
    List,
    /// Show a model.
    Show { name: String },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// MODEL (every version) or MODEL@VERSION (that version and its
    /// ancestors, so lineage survives); repeatable.
    #[arg(required = true)]
    pub models: Vec<String>,
    /// The bundle to write (a tar); written whole or not at all.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A bundle written by `outpost export`.
    pub bundle: std::path::PathBuf,
    /// The source organisation's root metadata as you trust it (e.g. the
    /// root.json its devices pin): the bundle's release signatures must
    /// descend from it. Without it they are checked against the root the
    /// bundle itself carries, which proves consistency, not origin.
    #[arg(long)]
    pub source_root: Option<std::path::PathBuf>,
    /// Artifacts larger than this are uploaded in parts of this size
    /// (resumable; 5MiB-100MiB).
    #[arg(long, default_value = "16MiB")]
    pub part_size: String,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The organisation (default: the profile's); the token must be one of
    /// its admin tokens.
    pub org: Option<String>,
    /// The backup directory; created if missing, updated in place.
    #[arg(long)]
    pub to: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `outpost backup`.
    pub dir: std::path::PathBuf,
    /// The restoring deployment's bootstrap secret.
    #[arg(long, env = "OUTPOST_BOOTSTRAP_SECRET", hide_env_values = true)]
    pub bootstrap_secret: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    pub model: String,
    /// The artifact file.
    pub file: std::path::PathBuf,
    /// Explicit semantic version.
    #[arg(long, conflicts_with = "bump")]
    pub version: Option<String>,
    /// major, minor, patch or auto (≥ 5 % gain on the primary metric → minor).
    #[arg(long)]
    pub bump: Option<String>,
    /// NAME=VALUE, repeatable.
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
    /// NAME=VALUE (JSON value or string), repeatable.
    #[arg(long = "param")]
    pub params: Vec<String>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// onnx, safetensors, pickle, joblib, pytorch, other (detected when omitted).
    #[arg(long)]
    pub format: Option<String>,
    #[arg(long)]
    pub framework: Option<String>,
    #[arg(long)]
    pub dataset_version: Option<String>,
    /// Version this one was derived from (lineage).
    #[arg(long)]
    pub parent: Option<String>,
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Artifacts larger than this are uploaded in parts of this size, and an
    /// interrupted upload resumes where it stopped (e.g. 16MiB; 5MiB-100MiB).
    #[arg(long, default_value = "16MiB")]
    pub part_size: String,
    /// A training sample (CSV with a header row, or JSON columns
    /// `{"feature": [values…]}`), profiled locally and stored with the
    /// version as its reference for drift reports and guardrails. Columns in
    /// the model's input order.
    #[arg(long, value_name = "SAMPLE")]
    pub reference: Option<std::path::PathBuf>,
    /// Do not offer the registry a gzip copy of the artifact (by default one
    /// is made and kept when it saves at least 1/16 of the bytes; clients
    /// that accept gzip then download less).
    #[arg(long)]
    pub no_compress: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Required tag, repeatable (all must match).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Metric threshold such as f1>=0.85, repeatable.
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
    #[arg(long)]
    pub author: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    /// Text in the model name, description or version notes.
    #[arg(long)]
    pub text: Option<String>,
    /// created, version, name or metric:<name>.
    #[arg(long)]
    pub sort: Option<String>,
    /// asc or desc.
    #[arg(long)]
    pub order: Option<String>,
    /// Page size (1-200).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Follow cursors and print every page.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List a model's versions.
    List {
        model: String,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Show one version.
    Show { model: String, version: String },
    /// Search versions across models.
    Search {
        #[arg(long)]
        model: Option<String>,
        #[command(flatten)]
        filters: FilterArgs,
        /// Print only the latest matching version.
        #[arg(long)]
        latest: bool,
    },
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// MODEL@VERSION, two or more.
    #[arg(required = true, num_args = 2..)]
    pub versions: Vec<String>,
    /// Metrics to compare (default: all).
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub model: String,
    pub version: String,
    #[arg(long = "add")]
    pub add: Vec<String>,
    #[arg(long = "remove")]
    pub remove: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A local model file (model.onnx), or ORG/MODEL@STAGE to run it remotely.
    pub model: String,
    /// JSON mapping input names to nested arrays, row-major: {"X": [[0.1, 2.0, 3.5, 1.0]]}.
    #[arg(long)]
    pub input: std::path::PathBuf,
    /// Remote runs: the device id the rollout routes by (sticky canary / A-B).
    #[arg(long)]
    pub device_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The installed model file.
    pub file: std::path::PathBuf,
    /// The pinned root metadata (optional: the state must descend from it).
    #[arg(long)]
    pub trust: Option<std::path::PathBuf>,
    /// The device's trusted state directory the model was installed with.
    #[arg(long)]
    pub state: std::path::PathBuf,
}

/// `outpost pull`'s flags as given; [`PullArgs::into_request`] checks them
/// and tells a registry download from a device pull (raw flags → working
/// arguments, as ripgrep's `LowArgs` → `HiArgs`).
#[derive(Debug, Args)]
pub struct PullArgs {
    /// MODEL (with --version: a registry download), or ORG/MODEL@STAGE (a
    /// device pull through the signed distribution, with --trust and --state).
    pub model: String,
    #[arg(long, conflicts_with_all = ["trust", "device_id"])]
    pub version: Option<String>,
    /// Device pulls: this device's id (sticky canary / A-B assignment).
    #[arg(long)]
    pub device_id: Option<String>,
    /// Device pulls: the pinned root metadata.
    #[arg(long, requires = "state")]
    pub trust: Option<std::path::PathBuf>,
    /// Device pulls: directory for the trusted state (metadata versions, current root).
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// Where to write the artifact.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Profile a training sample (CSV or JSON columns) and store it with a
    /// version that has no reference yet.
    Add {
        model: String,
        version: String,
        sample: std::path::PathBuf,
    },
    /// Show a version's reference profile per feature.
    Show { model: String, version: String },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its signing secret once.
    Add {
        url: String,
        /// Event type, repeatable (version.registered, stage.promoted,
        /// stage.rolled_back, stage.rollout_changed, guardrail.tripped,
        /// drift.detected), or * for all.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List endpoints.
    List,
    /// Remove an endpoint (pending deliveries fail).
    Remove { id: String },
    /// Deliveries to an endpoint, newest first.
    Deliveries {
        id: String,
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// A registry download: `outpost pull MODEL --version V -o FILE`.
#[derive(Debug)]
pub struct DownloadArgs {
    pub model: String,
    pub version: String,
    pub output: std::path::PathBuf,
}

/// A device pull through the signed distribution:
/// `outpost pull ORG/MODEL@STAGE --state DIR [--trust root.json] -o FILE`.
#[derive(Debug)]
pub struct DevicePullArgs {
    /// `ORG/MODEL@STAGE`, checked by [`parse_target`] where it is used.
    pub target: String,
    pub device_id: Option<String>,
    pub trust: Option<std::path::PathBuf>,
    pub state: std::path::PathBuf,
    pub output: std::path::PathBuf,
}

/// What `outpost pull` was asked to do.
#[derive(Debug)]
pub enum PullRequest {
    Download(DownloadArgs),
    Device(DevicePullArgs),
}

impl PullArgs {
    pub fn into_request(self) -> anyhow::Result<PullRequest> {
        if self.model.contains('@') {
            let state = self
                .state
                .ok_or_else(|| anyhow::anyhow!("device pulls need --state DIR"))?;
            return Ok(PullRequest::Device(DevicePullArgs {
                target: self.model,
                device_id: self.device_id,
                trust: self.trust,
                state,
                output: self.output,
            }));
        }
        let version = self.version.ok_or_else(|| {
            anyhow::anyhow!(
                "give --version for a registry download, or ORG/MODEL@STAGE with --trust and --state for a device pull"
            )
        })?;
        Ok(PullRequest::Download(DownloadArgs {
            model: self.model,
            version,
            output: self.output,
        }))
    }
}

/// `ORG/MODEL@STAGE`.
pub fn parse_target(text: &str) -> anyhow::Result<(String, String, String)> {
    let (path, stage) = text
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!("`{text}` must be ORG/MODEL@STAGE"))?;
    let (org, model) = path
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("`{text}` must be ORG/MODEL@STAGE"))?;
    if org.is_empty() || model.is_empty() || stage.is_empty() {
        return Err(anyhow::anyhow!("`{text}` must be ORG/MODEL@STAGE"));
    }
    Ok((org.to_owned(), model.to_owned(), stage.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets_parse() {
        let parsed = parse_target("acme/fraud-detector@production").ok();
        assert_eq!(
            parsed,
            Some(("acme".into(), "fraud-detector".into(), "production".into()))
        );
        assert!(parse_target("fraud-detector@production").is_err());
        assert!(parse_target("acme/fraud").is_err());
        assert!(parse_target("/m@s").is_err());
    }
}
