//! Model versions: names, semver, and how a new version number is chosen.
//!
//! A version is immutable once registered, so its number is decided once, here:
//! either given explicitly, or bumped from the highest existing version. `auto`
//! bumps by merit: a gain of at least [`AUTO_MINOR_GAIN`] on the model's primary
//! metric over the latest version earns a minor bump, anything else a patch.

use std::fmt;
use std::str::FromStr;

use semver::Version;
use serde::{Deserialize, Serialize};

/// Relative gain on the primary metric that makes `auto` choose a minor bump.
pub const AUTO_MINOR_GAIN: f64 = 0.05;

/// Slack for binary fractions: 0.80 → 0.84 is exactly 5 % to a person but
/// 4.999…% in `f64`, and must count as 5 %.
const GAIN_TOLERANCE: f64 = 1e-9;

/// The first version number when a bump has nothing to bump from.
pub const FIRST_VERSION: Version = Version::new(1, 0, 0);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{0}` is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)")]
    NotSemver(String),
    #[error(
        "build metadata (`+…`) is not allowed in version `{0}`: versions must order unambiguously"
    )]
    BuildMetadata(String),
    #[error("unknown bump `{0}`; use major, minor, patch or auto, or give an explicit version")]
    UnknownBump(String),
    #[error(
        "invalid model name `{0}`: use 1-128 characters a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
    )]
    InvalidModelName(String),
    #[error("invalid tag `{0}`: use 1-64 characters a-z, A-Z, 0-9, '.', '_', ':', '-'")]
    InvalidTag(String),
}

/// Parses a version as registered: plain semver, pre-release allowed, build
/// metadata refused (it does not take part in ordering, so `1.0.0+a` and
/// `1.0.0+b` would be two versions that compare equal).
pub fn parse_version(text: &str) -> Result<Version, VersionError> {
    let version = Version::parse(text).map_err(|_| VersionError::NotSemver(clip(text)))?;
    if !version.build.is_empty() {
        return Err(VersionError::BuildMetadata(clip(text)));
    }
    Ok(version)
}

/// A text key whose byte order is SemVer 2.0.0 §11 precedence, so storage
/// can order versions with a plain `ORDER BY` (SQLite's BINARY collation),
/// numeric identifiers of any size included.
///
/// - A number is its digit count's own length (one digit), the digit
///   count, then the digits: longer numbers sort after shorter ones, and
///   equal lengths compare digit by digit. `42` → `1242`.
/// - MAJOR, MINOR and PATCH follow one another (each self-delimiting).
/// - No pre-release: `~`, which sorts after `-`, so a release outranks its
///   pre-releases (§11.3).
/// - A pre-release: `-`, then each identifier — a numeric one as `1` and its
///   number, an alphanumeric one as `2`, its ASCII text and `!` (below every
///   character identifiers may contain, so `alpha` < `alphabet`) — then `.`,
///   which sorts before `1` and `2`, so fewer identifiers rank lower when the
///   rest are equal (§11.4). Numeric identifiers rank below alphanumeric ones.
///
/// The migration that added the key computes the same key in SQL for rows
/// stored before it (`worker/migrations/0012_version_precedence.sql`).
pub fn precedence_key(version: &Version) -> String {
    let mut key = String::new();
    for part in [version.major, version.minor, version.patch] {
        push_number(&mut key, &part.to_string());
    }
    if version.pre.is_empty() {
        key.push('~');
        return key;
    }
    key.push('-');
    for identifier in version.pre.as_str().split('.') {
        if !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit()) {
            key.push('1');
            push_number(&mut key, identifier);
        } else {
            key.push('2');
            key.push_str(identifier);
            key.push('!');
        }
    }
    key.push('.');
    key
}

/// Appends a decimal number (leading zeros dropped) in the length-prefixed
/// form of [`precedence_key`].
fn push_number(key: &mut String, digits: &str) {
    let digits = match digits.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let length = digits.len().to_string();
    key.push_str(&length.len().to_string());
    key.push_str(&length);
    key.push_str(digits);
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// How the number of a new version is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Major,
    Minor,
    Patch,
    /// Minor on a ≥ 5 % gain on the primary metric, else patch.
    Auto,
}

impl FromStr for Bump {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "major" => Ok(Bump::Major),
            "minor" => Ok(Bump::Minor),
            "patch" => Ok(Bump::Patch),
            "auto" => Ok(Bump::Auto),
            other => Err(VersionError::UnknownBump(clip(other))),
        }
    }
}

/// The model's primary metric and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PrimaryMetric {
    #[schemars(regex(pattern = crate::query::METRIC_NAME_PATTERN))]
    pub name: String,
    #[serde(default = "higher")]
    pub higher_is_better: bool,
}

fn higher() -> bool {
    true
}

/// What `auto` decided and why, so the registration response can say it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BumpDecision {
    pub version: String,
    pub reason: String,
}

/// Chooses the next version from the latest one (the highest registered).
pub fn next_version(
    bump: &Bump,
    latest: Option<(&Version, Option<f64>)>,
    primary: Option<&PrimaryMetric>,
    new_metric: Option<f64>,
) -> BumpDecision {
    let Some((latest, latest_metric)) = latest else {
        return BumpDecision {
            version: FIRST_VERSION.to_string(),
            reason: "first version of this model".into(),
        };
    };
    let (kind, reason) = match bump {
        Bump::Major => ("major", "major bump requested".to_owned()),
        Bump::Minor => ("minor", "minor bump requested".to_owned()),
        Bump::Patch => ("patch", "patch bump requested".to_owned()),
        Bump::Auto => auto_bump(latest, latest_metric, primary, new_metric),
    };
    let mut next = Version::new(latest.major, latest.minor, latest.patch);
    match kind {
        "major" => next = Version::new(next.major + 1, 0, 0),
        "minor" => next = Version::new(next.major, next.minor + 1, 0),
        // A pre-release's patch bump releases it: 1.2.0-rc.1 → 1.2.0.
        _ if !latest.pre.is_empty() => {}
        _ => next.patch += 1,
    }
    BumpDecision {
        version: next.to_string(),
        reason,
    }
}

fn auto_bump(
    latest: &Version,
    latest_metric: Option<f64>,
    primary: Option<&PrimaryMetric>,
    new_metric: Option<f64>,
) -> (&'static str, String) {
    let Some(primary) = primary else {
        return (
            "patch",
            "auto: the model has no primary metric, so patch".into(),
        );
    };
    let (Some(old), Some(new)) = (latest_metric, new_metric) else {
        return (
            "patch",
            format!(
                "auto: `{}` missing on {} or on the new version, so patch",
                primary.name,
                if latest_metric.is_none() {
                    latest.to_string()
                } else {
                    "the new version".into()
                }
            ),
        );
    };
    let gain = relative_gain(old, new, primary.higher_is_better);
    if gain >= AUTO_MINOR_GAIN - GAIN_TOLERANCE {
        (
            "minor",
            format!(
                "auto: `{}` improved {:.2}% over {latest} ({old} → {new}), ≥ 5%, so minor",
                primary.name,
                gain * 100.0
            ),
        )
    } else {
        (
            "patch",
            format!(
                "auto: `{}` changed {:+.2}% over {latest} ({old} → {new}), < 5% gain, so patch",
                primary.name,
                gain * 100.0
            ),
        )
    }
}

/// Improvement of `new` over `old` relative to |old|, positive when better.
/// From zero, any improvement counts as infinite gain.
pub fn relative_gain(old: f64, new: f64, higher_is_better: bool) -> f64 {
    let improvement = if higher_is_better {
        new - old
    } else {
        old - new
    };
    if old == 0.0 {
        return if improvement > 0.0 {
            f64::INFINITY
        } else if improvement < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
    }
    improvement / old.abs()
}

/// Model names appear in URLs and keys.
/// What [`validate_model_name`] accepts, for API documents.
pub const MODEL_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9._-]{0,127}$";

/// What [`validate_tag`] accepts.
pub const TAG_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// What [`parse_version`] accepts: SemVer 2.0.0 without build metadata,
/// MAJOR, MINOR and PATCH within 19 digits (they are u64); pre-release
/// numbers of any size.
pub const VERSION_PATTERN: &str = concat!(
    r"^(?:0|[1-9][0-9]{0,18})\.(?:0|[1-9][0-9]{0,18})\.(?:0|[1-9][0-9]{0,18})",
    r"(?:-(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$"
);

pub fn validate_model_name(name: &str) -> Result<(), VersionError> {
    let ok = (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(VersionError::InvalidModelName(clip(name)))
    }
}

pub fn validate_tag(tag: &str) -> Result<(), VersionError> {
    let ok = (1..=64).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VersionError::InvalidTag(clip(tag)))
    }
}

/// Artifact formats Outpost recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactFormat {
    Onnx,
    Safetensors,
    Pickle,
    Joblib,
    Pytorch,
    Other,
}

impl ArtifactFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactFormat::Onnx => "onnx",
            ArtifactFormat::Safetensors => "safetensors",
            ArtifactFormat::Pickle => "pickle",
            ArtifactFormat::Joblib => "joblib",
            ArtifactFormat::Pytorch => "pytorch",
            ArtifactFormat::Other => "other",
        }
    }
}

impl fmt::Display for ArtifactFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; use onnx, safetensors, pickle, joblib, pytorch or other")]
pub struct UnknownFormat(pub String);

impl FromStr for ArtifactFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ArtifactFormat::Onnx,
            ArtifactFormat::Safetensors,
            ArtifactFormat::Pickle,
            ArtifactFormat::Joblib,
            ArtifactFormat::Pytorch,
            ArtifactFormat::Other,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| UnknownFormat(clip(s)))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        parse_version(text).unwrap()
    }

    fn f1() -> PrimaryMetric {
        PrimaryMetric {
            name: "f1".into(),
            higher_is_better: true,
        }
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(v("1.2.3"), Version::new(1, 2, 3));
        v("2.0.0-rc.1");
        assert!(matches!(
            parse_version("1.2"),
            Err(VersionError::NotSemver(_))
        ));
        assert!(matches!(
            parse_version("v1.2.3"),
            Err(VersionError::NotSemver(_))
        ));
        assert!(matches!(
            parse_version("1.2.3+build"),
            Err(VersionError::BuildMetadata(_))
        ));
    }

    #[test]
    fn explicit_bumps() {
        let latest = v("1.4.2");
        let next = |bump| next_version(&bump, Some((&latest, None)), None, None).version;
        assert_eq!(next(Bump::Major), "2.0.0");
        assert_eq!(next(Bump::Minor), "1.5.0");
        assert_eq!(next(Bump::Patch), "1.4.3");
        assert_eq!(
            next_version(&Bump::Patch, None, None, None).version,
            "1.0.0"
        );
        let rc = v("2.0.0-rc.1");
        assert_eq!(
            next_version(&Bump::Patch, Some((&rc, None)), None, None).version,
            "2.0.0"
        );
        assert_eq!(
            next_version(&Bump::Minor, Some((&rc, None)), None, None).version,
            "2.1.0"
        );
    }

    #[test]
    fn auto_is_minor_from_five_percent_gain() {
        let latest = v("1.4.2");
        let auto = |old: f64, new: f64| {
            next_version(
                &Bump::Auto,
                Some((&latest, Some(old))),
                Some(&f1()),
                Some(new),
            )
        };
        assert_eq!(auto(0.80, 0.84).version, "1.5.0"); // exactly +5 %
        assert_eq!(auto(0.80, 0.8399).version, "1.4.3");
        assert_eq!(auto(0.80, 0.70).version, "1.4.3");
        assert!(
            auto(0.80, 0.84).reason.contains("5.00%"),
            "{}",
            auto(0.80, 0.84).reason
        );
        let loss = PrimaryMetric {
            name: "loss".into(),
            higher_is_better: false,
        };
        let lower = next_version(
            &Bump::Auto,
            Some((&latest, Some(0.20))),
            Some(&loss),
            Some(0.18),
        );
        assert_eq!(lower.version, "1.5.0");
    }

    #[test]
    fn auto_without_metrics_is_a_patch_that_says_why() {
        let latest = v("0.3.0");
        let none = next_version(&Bump::Auto, Some((&latest, None)), Some(&f1()), Some(0.9));
        assert_eq!(none.version, "0.3.1");
        assert!(none.reason.contains("missing on 0.3.0"), "{}", none.reason);
        let no_primary = next_version(&Bump::Auto, Some((&latest, Some(0.1))), None, Some(0.9));
        assert_eq!(no_primary.version, "0.3.1");
    }

    #[test]
    fn gain_from_zero_and_direction() {
        assert_eq!(relative_gain(0.0, 0.1, true), f64::INFINITY);
        assert_eq!(relative_gain(0.0, 0.0, true), 0.0);
        assert!((relative_gain(-2.0, -1.0, true) - 0.5).abs() < 1e-12);
        assert!((relative_gain(0.5, 0.25, false) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn names_and_tags() {
        for good in ["fraud-detector", "iforest_v2", "m.1", "9lives"] {
            validate_model_name(good).unwrap();
        }
        for bad in ["", "Fraud", "-x", "a/b", "a b", &"a".repeat(129)] {
            assert!(validate_model_name(bad).is_err(), "{bad}");
        }
        validate_tag("team:fraud").unwrap();
        assert!(validate_tag("has space").is_err());
        assert_eq!(
            "onnx".parse::<ArtifactFormat>().unwrap(),
            ArtifactFormat::Onnx
        );
        assert!("exe".parse::<ArtifactFormat>().is_err());
    }

    #[test]
    fn precedence_keys_order_like_semver_section_11() {
        // §11's own example, then numeric identifiers of any size.
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.10",
            "1.0.0-beta.11",
            "1.0.0-beta.99999999999999999999999999",
            "1.0.0-beta.100000000000000000000000000",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-0",
            "1.0.1-a-",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.0",
            "10.0.0",
            "18446744073709551615.0.0",
        ];
        let keys: Vec<String> = ordered
            .iter()
            .map(|v| precedence_key(&parse_version(v).unwrap()))
            .collect();
        for (i, pair) in keys.windows(2).enumerate() {
            assert!(
                pair[0] < pair[1],
                "{} must sort before {}: {} vs {}",
                ordered[i],
                ordered[i + 1],
                pair[0],
                pair[1]
            );
        }
        // The semver crate agrees on every pair.
        for a in ordered {
            for b in ordered {
                let (va, vb) = (parse_version(a).unwrap(), parse_version(b).unwrap());
                assert_eq!(
                    precedence_key(&va).cmp(&precedence_key(&vb)),
                    va.cmp(&vb),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(
            precedence_key(&parse_version("1.0.42").unwrap()),
            "1111101242~"
        );
    }

    /// The same rows as the migration's backfill SQL gave in local D1
    /// (run once when it was written; the SQL cannot run natively here).
    #[test]
    fn precedence_keys_match_the_migration_backfill() {
        for (version, from_sql) in [
            ("1.0.42", "1111101242~"),
            ("1.0.0-beta.10", "111110110-2beta!11210."),
            ("1.0.0-alpha.beta", "111110110-2alpha!2beta!."),
            ("10.2.0-rc.1.a-b.0", "1210112110-2rc!11112a-b!1110."),
            (
                "1.0.0-beta.100000000000000000000000",
                "111110110-2beta!1224100000000000000000000000.",
            ),
        ] {
            assert_eq!(precedence_key(&parse_version(version).unwrap()), from_sql);
        }
    }
}
