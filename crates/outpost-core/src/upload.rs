//! Multipart upload geometry: how a large artifact is cut into parts.
//!
//! R2 requires every part but the last to have the same size, of at least
//! 5 MiB; at most 10 000 parts. The numbering and lengths are decided here so
//! the Worker and the CLI cut the same parts.

use serde::{Deserialize, Serialize};

pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 100 << 20;
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
pub const MAX_PARTS: u64 = 10_000;

/// Largest artifact one `PUT …/blobs` takes (bytes): R2's limit for a single
/// upload (5 GiB, Cloudflare R2 "Limits"). Larger artifacts go through a
/// multipart upload, as `outpost push` does. Checked before any byte is
/// read: a declared size the store can never receive made workerd cancel the
/// request as hung.
pub const MAX_SINGLE_PUT_SIZE: u64 = 5 << 30;

/// How long an uploaded artifact that no version refers to is kept before
/// the cron collects it (ms): an upload is followed by its registration
/// within seconds, and a day leaves room for a client that retries. So a
/// refused registration leaves no artifact behind for longer than this.
pub const UNREFERENCED_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a multipart upload stays open (ms): R2 aborts incomplete
/// multipart uploads after seven days by default, after which resuming one
/// could only fail, so the cron closes them a day before.
pub const UPLOAD_LIFETIME_MS: i64 = 6 * 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("part size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes, got {0}")]
    PartSize(u64),
    #[error(
        "an artifact of {size} bytes in parts of {part_size} needs more than {MAX_PARTS} parts; use larger parts"
    )]
    TooManyParts { size: u64, part_size: u64 },
    #[error("an empty artifact needs no multipart upload; PUT it as a blob")]
    Empty,
    #[error("part {part} does not exist; this upload has parts 1 to {parts}")]
    NoSuchPart { part: u64, parts: u64 },
}

/// The parts of one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartPlan {
    pub size: u64,
    pub part_size: u64,
}

impl PartPlan {
    pub fn new(size: u64, part_size: u64) -> Result<Self, PlanError> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(PlanError::PartSize(part_size));
        }
        if size == 0 {
            return Err(PlanError::Empty);
        }
        let plan = Self { size, part_size };
        if plan.parts() > MAX_PARTS {
            return Err(PlanError::TooManyParts { size, part_size });
        }
        Ok(plan)
    }

    pub fn parts(&self) -> u64 {
        self.size.div_ceil(self.part_size)
    }

    /// Byte offset and length of part `part` (1-based).
    pub fn part(&self, part: u64) -> Result<(u64, u64), PlanError> {
        if part == 0 || part > self.parts() {
            return Err(PlanError::NoSuchPart {
                part,
                parts: self.parts(),
            });
        }
        let offset = (part - 1) * self.part_size;
        Ok((offset, self.part_size.min(self.size - offset)))
    }

    /// Parts not in `done`, in order.
    pub fn missing(&self, done: &[u64]) -> Vec<u64> {
        (1..=self.parts()).filter(|p| !done.contains(p)).collect()
    }
}

/// `POST /v1/orgs/{org}/uploads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StartUpload {
    pub digest: crate::digest::Digest,
    pub size: u64,
    #[serde(default)]
    pub part_size: Option<u64>,
}

/// The state of an upload, as returned when it is started, resumed or queried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UploadState {
    pub id: String,
    pub digest: crate::digest::Digest,
    pub size: u64,
    pub part_size: u64,
    pub parts: u64,
    /// Part numbers received and verified so far.
    pub parts_done: Vec<u64>,
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn parts_cover_the_artifact_exactly() {
        let plan = PartPlan::new(12 * MIB + 1, 5 * MIB).unwrap();
        assert_eq!(plan.parts(), 3);
        assert_eq!(plan.part(1).unwrap(), (0, 5 * MIB));
        assert_eq!(plan.part(3).unwrap(), (10 * MIB, 2 * MIB + 1));
        let total: u64 = (1..=3).map(|p| plan.part(p).unwrap().1).sum();
        assert_eq!(total, plan.size);
        let exact = PartPlan::new(10 * MIB, 5 * MIB).unwrap();
        assert_eq!(
            (exact.parts(), exact.part(2).unwrap()),
            (2, (5 * MIB, 5 * MIB))
        );
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(PartPlan::new(10, 1), Err(PlanError::PartSize(1)));
        assert_eq!(PartPlan::new(0, 5 * MIB), Err(PlanError::Empty));
        assert!(matches!(
            PartPlan::new(u64::MAX / 2, 5 * MIB),
            Err(PlanError::TooManyParts { .. })
        ));
        let plan = PartPlan::new(6 * MIB, 5 * MIB).unwrap();
        assert_eq!(
            plan.part(0),
            Err(PlanError::NoSuchPart { part: 0, parts: 2 })
        );
        assert_eq!(
            plan.part(3),
            Err(PlanError::NoSuchPart { part: 3, parts: 2 })
        );
        assert_eq!(plan.missing(&[2]), vec![1]);
    }
}
