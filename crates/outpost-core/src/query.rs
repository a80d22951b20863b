//! Version search: filters as users write them (`f1>=0.85`, `tag=prod-ready`)
//! parsed into a typed query that the Worker turns into bound SQL.
//!
//! Parsing lives here so the CLI can reject a bad filter before sending it and
//! the Worker answers a 400 that names the offending part.

use serde::{Deserialize, Serialize};

/// Comparison in a metric filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CompareOp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl CompareOp {
    /// The SQL operator; only these fixed strings ever reach a query.
    pub fn sql(self) -> &'static str {
        match self {
            CompareOp::Ge => ">=",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Lt => "<",
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Ge => left >= right,
            CompareOp::Gt => left > right,
            CompareOp::Le => left <= right,
            CompareOp::Lt => left < right,
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
        }
    }
}

/// `name op value`, e.g. `f1>=0.85`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetricFilter {
    pub metric: String,
    pub op: CompareOp,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("metric filter `{0}` must look like `f1>=0.85` (operators >=, >, <=, <, =, !=)")]
    MetricFilter(String),
    #[error("metric name `{0}` may use only letters, digits, '_', '.', '-'")]
    MetricName(String),
    #[error("unknown sort `{0}`; use created, version, name or metric:<name>")]
    Sort(String),
    #[error("limit must be between 1 and {max}, got `{given}`")]
    Limit { given: String, max: u32 },
    #[error("cursor `{0}` is not one this server issued; start again without it")]
    Cursor(String),
    #[error("`{field}` must be a time in ms since the epoch, got `{given}`")]
    Time { field: &'static str, given: String },
    #[error("order must be asc or desc, got `{0}`")]
    Order(String),
    #[error("{0}")]
    Name(crate::version::VersionError),
    #[error("{0}")]
    Format(crate::version::UnknownFormat),
    #[error("status must be ready or unsafe, got `{0}`")]
    Status(String),
}

/// What [`validate_metric_name`] accepts, for API documents.
pub const METRIC_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// What [`MetricFilter::parse`] accepts: `name`, an operator, a number,
/// with spaces around them if wanted (`auc > 0.9`).
pub const METRIC_FILTER_PATTERN: &str = concat!(
    "^ *[A-Za-z0-9_.-]{1,64} *(?:>=|<=|!=|>|<|=) *",
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *",
    "$"
);

/// What [`SortKey::parse`] accepts.
pub const SORT_PATTERN: &str = "^(?:created|version|name|metric:[A-Za-z0-9_.-]{1,64})$";

/// What [`decode_cursor`] accepts: `o` and the offset in lowercase hex.
pub const CURSOR_PATTERN: &str = "^o(?:0|[1-9a-f][0-9a-f]{0,15})$";

/// `model@version` as `compare` takes it.
pub const MODEL_AT_VERSION_PATTERN: &str = "^[^@]+@.+$";

/// Whether `text` is a decimal number as Rust's `f64` parser reads one,
/// without `inf` or `nan`: an optional sign, digits with an optional point
/// (`.5` and `5.` included), an optional exponent. Filters stored in
/// policies before the API document existed were written in this syntax, so
/// the document's pattern is this grammar rather than JSON's.
fn is_decimal_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

pub fn validate_metric_name(name: &str) -> Result<(), QueryError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(QueryError::MetricName(name.chars().take(64).collect()))
    }
}

impl MetricFilter {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let err = || QueryError::MetricFilter(text.chars().take(80).collect());
        // Two-character operators first so `>=` is not read as `>`.
        const OPS: [(&str, CompareOp); 6] = [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            ("!=", CompareOp::Ne),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
            ("=", CompareOp::Eq),
        ];
        let (at, symbol, op) = OPS
            .iter()
            .filter_map(|(symbol, op)| text.find(symbol).map(|at| (at, *symbol, *op)))
            .min_by_key(|(at, symbol, _)| (*at, std::cmp::Reverse(symbol.len())))
            .ok_or_else(err)?;
        let metric = text[..at].trim_matches(' ');
        let value = text[at + symbol.len()..].trim_matches(' ');
        validate_metric_name(metric)?;
        if !is_decimal_number(value) {
            return Err(err());
        }
        // A number too large for a double (`1e400`) is as large as one
        // can be: metrics are finite, so every comparison answers the same.
        let value = value
            .parse::<f64>()
            .map_err(|_| err())?
            .clamp(f64::MIN, f64::MAX);
        Ok(Self {
            metric: metric.to_owned(),
            op,
            value,
        })
    }

    /// JSON path for `json_extract`, quoted so dots in names stay literal.
    pub fn json_path(&self) -> String {
        metric_json_path(&self.metric)
    }
}

pub fn metric_json_path(metric: &str) -> String {
    format!("$.\"{metric}\"")
}

/// What results are ordered by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SortKey {
    Created,
    /// Semantic version order (major, minor, patch, then pre-release).
    Version,
    /// Model name, then version.
    Name,
    Metric(String),
}

impl SortKey {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        match text {
            "created" => Ok(SortKey::Created),
            "version" => Ok(SortKey::Version),
            "name" => Ok(SortKey::Name),
            other => match other.strip_prefix("metric:") {
                Some(metric) => {
                    validate_metric_name(metric)?;
                    Ok(SortKey::Metric(metric.to_owned()))
                }
                None => Err(QueryError::Sort(other.chars().take(40).collect())),
            },
        }
    }
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A version search as the API receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionQuery {
    pub model: Option<String>,
    /// Every one of these tags must be present.
    pub tags: Vec<String>,
    pub metrics: Vec<MetricFilter>,
    pub format: Option<String>,
    pub author: Option<String>,
    pub status: Option<String>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    /// Substring of model name, model description or version notes.
    pub text: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
}

impl Default for VersionQuery {
    fn default() -> Self {
        Self {
            model: None,
            tags: Vec::new(),
            metrics: Vec::new(),
            format: None,
            author: None,
            status: None,
            created_after: None,
            created_before: None,
            text: None,
            sort: SortKey::Created,
            descending: true,
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// Opaque page cursors. They encode a position; clients only echo them.
pub fn encode_cursor(offset: u64) -> String {
    format!("o{offset:x}")
}

pub fn decode_cursor(cursor: &str) -> Result<u64, QueryError> {
    cursor
        .strip_prefix('o')
        .filter(|hex| {
            (hex == &"0" || !hex.starts_with('0'))
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| QueryError::Cursor(cursor.chars().take(40).collect()))
}

impl VersionQuery {
    /// Builds a query from URL query pairs. Repeated `tag` and `metric` pairs
    /// add up; unknown keys are refused so that a typo is not a silent no-op.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QueryParamError> {
        let mut query = VersionQuery::default();
        for (key, value) in pairs {
            match key {
                // Filters are checked like the values they match, so a
                // typo is an error rather than an empty page.
                "model" => {
                    crate::version::validate_model_name(value).map_err(QueryError::Name)?;
                    query.model = Some(value.to_owned());
                }
                "tag" => {
                    crate::version::validate_tag(value).map_err(QueryError::Name)?;
                    query.tags.push(value.to_owned());
                }
                "metric" => query.metrics.push(MetricFilter::parse(value)?),
                "format" => {
                    let format: crate::version::ArtifactFormat =
                        value.parse().map_err(QueryError::Format)?;
                    query.format = Some(format.as_str().to_owned());
                }
                "author" => query.author = Some(value.to_owned()),
                "status" => {
                    if !matches!(value, "ready" | "unsafe") {
                        return Err(QueryError::Status(value.chars().take(20).collect()).into());
                    }
                    query.status = Some(value.to_owned());
                }
                "created_after" => query.created_after = Some(parse_time("created_after", value)?),
                "created_before" => {
                    query.created_before = Some(parse_time("created_before", value)?)
                }
                "q" => query.text = Some(value.to_owned()),
                "sort" => query.sort = SortKey::parse(value)?,
                "order" => {
                    query.descending = match value {
                        "asc" => false,
                        "desc" => true,
                        other => {
                            return Err(QueryError::Order(other.chars().take(20).collect()).into());
                        }
                    }
                }
                "limit" => {
                    query.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| QueryError::Limit {
                            given: value.chars().take(20).collect(),
                            max: MAX_LIMIT,
                        })?
                }
                "cursor" => query.offset = decode_cursor(value)?,
                other => return Err(QueryParamError::Unknown(other.chars().take(40).collect())),
            }
        }
        Ok(query)
    }

    /// The cursor of the page after one that returned `returned` rows.
    pub fn next_cursor(&self, returned: usize) -> Option<String> {
        (returned as u64 == u64::from(self.limit))
            .then(|| encode_cursor(self.offset + u64::from(self.limit)))
    }
}

fn parse_time(field: &'static str, value: &str) -> Result<i64, QueryError> {
    value.parse::<i64>().map_err(|_| QueryError::Time {
        field,
        given: value.chars().take(40).collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryParamError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(
        "unknown query parameter `{0}`; use model, tag, metric, format, author, status, created_after, created_before, q, sort, order, limit, cursor"
    )]
    Unknown(String),
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn metric_filters_parse() {
        let f = MetricFilter::parse("f1>=0.85").unwrap();
        assert_eq!(
            (f.metric.as_str(), f.op, f.value),
            ("f1", CompareOp::Ge, 0.85)
        );
        assert_eq!(MetricFilter::parse("auc > 0.9").unwrap().op, CompareOp::Gt);
        assert_eq!(MetricFilter::parse("loss<=1e-3").unwrap().value, 1e-3);
        assert_eq!(MetricFilter::parse("a.b!=2").unwrap().op, CompareOp::Ne);
        assert_eq!(MetricFilter::parse("x=2").unwrap().op, CompareOp::Eq);
        assert_eq!(
            MetricFilter::parse("recall.at-5<0.1").unwrap().json_path(),
            "$.\"recall.at-5\""
        );
        for bad in [
            "f1", "f1>=", ">=0.8", "f1>=abc", "f1>=NaN", "f'1>=0.1", "f1>=inf",
        ] {
            assert!(MetricFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compare_ops_hold() {
        assert!(CompareOp::Ge.holds(0.85, 0.85));
        assert!(!CompareOp::Gt.holds(0.85, 0.85));
        assert!(CompareOp::Ne.holds(1.0, 2.0));
    }

    #[test]
    fn queries_build_from_pairs() {
        let q = VersionQuery::from_pairs([
            ("tag", "prod-ready"),
            ("tag", "eu"),
            ("metric", "f1>=0.85"),
            ("sort", "metric:f1"),
            ("order", "asc"),
            ("limit", "10"),
            ("cursor", &encode_cursor(20)),
        ])
        .unwrap();
        assert_eq!(q.tags, vec!["prod-ready", "eu"]);
        assert_eq!(q.sort, SortKey::Metric("f1".into()));
        assert!(!q.descending);
        assert_eq!((q.limit, q.offset), (10, 20));
        assert_eq!(q.next_cursor(10), Some(encode_cursor(30)));
        assert_eq!(q.next_cursor(9), None);
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let err = VersionQuery::from_pairs([("colour", "red")]).unwrap_err();
        assert!(err.to_string().contains("unknown query parameter `colour`"));
        assert!(VersionQuery::from_pairs([("limit", "0")]).is_err());
        assert!(VersionQuery::from_pairs([("limit", "1000")]).is_err());
        assert!(VersionQuery::from_pairs([("sort", "random")]).is_err());
        assert!(VersionQuery::from_pairs([("cursor", "zzz")]).is_err());
        assert!(VersionQuery::from_pairs([("created_after", "yesterday")]).is_err());
    }
}
