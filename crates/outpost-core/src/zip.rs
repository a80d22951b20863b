//! Zip archives, found and read the way zip readers find and read them.
//!
//! PyTorch checkpoints (`torch.save`, TorchScript) are zip archives whose
//! members hold pickles. A reader does not look at the first bytes: Python's
//! `zipfile` and PyTorch's miniz both search the end of the file for the
//! end-of-central-directory record (PKWARE APPNOTE 6.3.10 §4.3.16), follow it
//! (and the ZIP64 records, §4.3.14–4.3.15) to the central directory (§4.3.12),
//! and read each member through its local header (§4.3.7). So does
//! [`find`]. Where readers could disagree about what an archive holds — local
//! and central headers that differ, two possible central directories,
//! overlapping members, local headers the central directory does not name,
//! bytes after the end record — it refuses the archive instead of picking one
//! reading.
//!
//! ```
//! use outpost_core::zip::{find, tests_support::stored_zip};
//!
//! // Bytes before the archive do not hide it.
//! let mut file = b"prefix".to_vec();
//! file.extend_from_slice(&stored_zip(&[("a/data.pkl", b"N.")]));
//! let archive = find(&file).expect("a zip").expect("readable");
//! assert_eq!(archive.start(), 6);
//! assert_eq!(archive.members()[0].name(), "a/data.pkl");
//! # Ok::<(), outpost_core::zip::ZipError>(())
//! ```

use std::borrow::Cow;

const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const ZIP64_EOCD_SIG: &[u8; 4] = b"PK\x06\x06";
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_LEN: usize = 56;
/// The end record's comment is at most 65 535 bytes, so readers search
/// that far back (and no further).
const MAX_COMMENT: usize = 0xffff;
const MAX_MEMBERS: usize = 1 << 20;

/// Why an archive cannot be read unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("{0}")]
    Malformed(String),
    #[error("member `{0}` is encrypted")]
    Encrypted(String),
    #[error("member `{name}` uses compression method {method}, which cannot be read")]
    Unsupported { name: String, method: u16 },
    #[error("member `{name}` is too large to inflate ({size} bytes)")]
    TooLarge { name: String, size: u64 },
    #[error("member `{0}` does not inflate to its declared size")]
    Corrupt(String),
}

fn malformed(why: impl Into<String>) -> ZipError {
    ZipError::Malformed(why.into())
}

/// An archive's members, in central-directory order.
#[derive(Debug, Clone)]
pub struct Archive<'a> {
    members: Vec<Member<'a>>,
    /// Where the archive starts: bytes before it (a prefix) are not part of it.
    start: usize,
}

impl<'a> Archive<'a> {
    pub fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    /// Offset of the archive in the file (0 unless something precedes it).
    pub fn start(&self) -> usize {
        self.start
    }
}

/// One member as the central directory names it, checked against its
/// local header.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    size: u64,
    /// The member's stored (possibly compressed) bytes.
    data: &'a [u8],
}

impl<'a> Member<'a> {
    /// The name for people (names are UTF-8 or, without flag bit 11, CP437,
    /// which agree on ASCII).
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    pub fn raw_name(&self) -> &[u8] {
        &self.name
    }

    /// The uncompressed size the central directory declares.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_directory(&self) -> bool {
        self.name.ends_with(b"/") && self.size == 0
    }

    /// The member's bytes, inflated if need be, refusing more than `limit`.
    pub fn contents(&self, limit: usize) -> Result<Cow<'a, [u8]>, ZipError> {
        self.read(limit, false)
    }

    /// At most the first `n` bytes of the member (cheap for stored members;
    /// for deflated ones inflation stops after `n` bytes).
    pub fn head(&self, n: usize) -> Result<Cow<'a, [u8]>, ZipError> {
        self.read(n, true)
    }

    fn read(&self, limit: usize, prefix: bool) -> Result<Cow<'a, [u8]>, ZipError> {
        // §4.4.4: bit 0 traditional encryption, bit 6 strong encryption.
        if self.flags & 0x0041 != 0 {
            return Err(ZipError::Encrypted(self.name()));
        }
        let too_large = || ZipError::TooLarge {
            name: self.name(),
            size: self.size,
        };
        let size = usize::try_from(self.size).map_err(|_| too_large())?;
        match self.method {
            // §4.4.5: 0 stored.
            0 => {
                if self.data.len() != size {
                    return Err(malformed(format!(
                        "stored member `{}` has different compressed and uncompressed sizes",
                        self.name()
                    )));
                }
                if prefix {
                    return Ok(Cow::Borrowed(self.data.get(..limit).unwrap_or(self.data)));
                }
                if size > limit {
                    return Err(too_large());
                }
                Ok(Cow::Borrowed(self.data))
            }
            // 8: deflated.
            8 => {
                if !prefix && size > limit {
                    return Err(too_large());
                }
                let cap = if prefix { limit.min(size) } else { size };
                match miniz_oxide::inflate::decompress_to_vec_with_limit(self.data, cap) {
                    Ok(out) if out.len() == size || (prefix && out.len() == cap) => {
                        Ok(Cow::Owned(out))
                    }
                    Err(err)
                        if prefix
                            && err.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput =>
                    {
                        Ok(Cow::Owned(err.output))
                    }
                    _ => Err(ZipError::Corrupt(self.name())),
                }
            }
            method => Err(ZipError::Unsupported {
                name: self.name(),
                method,
            }),
        }
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_le_bytes(bytes))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

fn sig_at(data: &[u8], at: usize, sig: &[u8; 4]) -> bool {
    at.checked_add(4)
        .and_then(|end| data.get(at..end))
        .is_some_and(|bytes| bytes == sig)
}

/// The end-of-central-directory record readers use: the last signature
/// with a whole record after it, within reach of the end (CPython
/// `zipfile._EndRecData`, miniz `mz_zip_reader_locate_header_sig`).
fn last_end_record(data: &[u8]) -> Option<usize> {
    let last = data.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(MAX_COMMENT);
    (first..=last).rev().find(|&at| sig_at(data, at, EOCD_SIG))
}

/// Finds the zip archive in `data`, if any: `None` when nothing a reader
/// could open is there, `Some(Err)` when a reader could open something but
/// not unambiguously.
pub fn find(data: &[u8]) -> Option<Result<Archive<'_>, ZipError>> {
    let Some(eocd) = last_end_record(data) else {
        // Streaming readers walk local headers from the start.
        return data.starts_with(LOCAL_SIG).then(|| {
            Err(malformed(
                "local file headers but no end-of-central-directory record",
            ))
        });
    };
    match read_archive(data, eocd) {
        Ok(archive) => Some(Ok(archive)),
        Err(err) if plausible(data, eocd) => Some(Err(err)),
        Err(_) => None,
    }
}

/// Whether some reader would take `data` for an archive: it starts with a
/// local header, or a central directory begins where the end record says
/// (relative to the archive or to the file), or the archive is empty.
fn plausible(data: &[u8], eocd: usize) -> bool {
    if data.starts_with(LOCAL_SIG) {
        return true;
    }
    let (Some(entries), Some(size), Some(offset)) = (
        u16_at(data, eocd + 10),
        u32_at(data, eocd + 12),
        u32_at(data, eocd + 16),
    ) else {
        return false;
    };
    if entries == 0 && size == 0 {
        return true;
    }
    let relative = eocd.checked_sub(size as usize);
    let zip64 = eocd
        .checked_sub(ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN)
        .filter(|&at| sig_at(data, at, ZIP64_EOCD_SIG));
    let starts = [
        relative,
        Some(offset as usize),
        zip64.and_then(|at| {
            let size = u64_at(data, at + 40)?;
            let offset = u64_at(data, at + 48)?;
            [
                at.checked_sub(usize::try_from(size).ok()?),
                usize::try_from(offset).ok(),
            ]
            .into_iter()
            .flatten()
            .find(|&start| sig_at(data, start, CENTRAL_SIG))
        }),
    ];
    starts
        .into_iter()
        .flatten()
        .any(|start| sig_at(data, start, CENTRAL_SIG))
}

/// The numbers of the end records, after ZIP64.
struct End {
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
    /// Where the end records begin (the ZIP64 record if there is one).
    start: usize,
}

fn read_end(data: &[u8], eocd: usize) -> Result<End, ZipError> {
    let field16 = |at| u16_at(data, eocd + at).ok_or_else(|| malformed("truncated end record"));
    let field32 = |at| u32_at(data, eocd + at).ok_or_else(|| malformed("truncated end record"));
    let (disk, cd_disk) = (field16(4)?, field16(6)?);
    let (disk_entries, entries) = (field16(8)?, field16(10)?);
    let (cd_size, cd_offset) = (field32(12)?, field32(16)?);
    let comment = usize::from(field16(20)?);
    if eocd + EOCD_LEN + comment != data.len() {
        return Err(malformed(
            "the end-of-central-directory record's comment does not end the file",
        ));
    }
    let mut end = End {
        entries: u64::from(entries),
        cd_size: u64::from(cd_size),
        cd_offset: u64::from(cd_offset),
        start: eocd,
    };
    let mut disks = (u32::from(disk), u32::from(cd_disk));
    let mut disk_entries = u64::from(disk_entries);
    let locator = eocd.checked_sub(ZIP64_LOCATOR_LEN);
    if let Some(locator) = locator.filter(|&at| sig_at(data, at, ZIP64_LOCATOR_SIG)) {
        // §4.3.15; zipfile reads the record just before the locator, miniz
        // where the locator points: they must be the same place.
        let trunc = || malformed("truncated ZIP64 end records");
        let record_disk = u32_at(data, locator + 4).ok_or_else(trunc)?;
        let record_at = u64_at(data, locator + 8).ok_or_else(trunc)?;
        let total_disks = u32_at(data, locator + 16).ok_or_else(trunc)?;
        let record = locator
            .checked_sub(ZIP64_EOCD_LEN)
            .filter(|&at| sig_at(data, at, ZIP64_EOCD_SIG))
            .ok_or_else(|| malformed("a ZIP64 locator without the ZIP64 end record before it"))?;
        if record_at != record as u64 || record_disk != 0 || total_disks > 1 {
            return Err(malformed(
                "the ZIP64 locator does not point at the ZIP64 end record before it",
            ));
        }
        // §4.3.14: a record size of 44 means no extensible data.
        let field = |at| u64_at(data, record + at).ok_or_else(trunc);
        if field(4)? != 44 {
            return Err(malformed("a ZIP64 end record with extensible data"));
        }
        let disk64 = u32_at(data, record + 16).ok_or_else(trunc)?;
        let cd_disk64 = u32_at(data, record + 20).ok_or_else(trunc)?;
        // The 16/32-bit fields must be saturated (then the 64-bit one counts)
        // or agree with the 64-bit one: readers differ in which they use.
        let merge = |small: u64, saturated: u64, big: u64| -> Result<u64, ZipError> {
            if small == saturated || small == big {
                Ok(big)
            } else {
                Err(malformed(
                    "the end record and the ZIP64 end record disagree",
                ))
            }
        };
        disks = (
            merge(u64::from(disks.0), 0xffff, u64::from(disk64))? as u32,
            merge(u64::from(disks.1), 0xffff, u64::from(cd_disk64))? as u32,
        );
        disk_entries = merge(disk_entries, 0xffff, field(24)?)?;
        end.entries = merge(end.entries, 0xffff, field(32)?)?;
        end.cd_size = merge(end.cd_size, 0xffff_ffff, field(40)?)?;
        end.cd_offset = merge(end.cd_offset, 0xffff_ffff, field(48)?)?;
        end.start = record;
    }
    if disks != (0, 0) || disk_entries != end.entries {
        return Err(malformed("a multi-disk archive"));
    }
    Ok(end)
}

/// A member's fields from its central header.
struct Central<'a> {
    name: &'a [u8],
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
}

fn read_archive(data: &[u8], eocd: usize) -> Result<Archive<'_>, ZipError> {
    let end = read_end(data, eocd)?;
    let cd_size = usize::try_from(end.cd_size)
        .map_err(|_| malformed("the central directory is too large"))?;
    // zipfile: the central directory ends where the end records begin; any
    // difference from its recorded offset is a prefix ("concat") that every
    // other offset is shifted by.
    let cd_start = end
        .start
        .checked_sub(cd_size)
        .ok_or_else(|| malformed("the central directory is larger than the file"))?;
    let shift = cd_start as i128 - i128::from(end.cd_offset);
    if shift != 0 && usize::try_from(end.cd_offset).is_ok_and(|at| sig_at(data, at, CENTRAL_SIG)) {
        // miniz reads offsets as file offsets and would find a different
        // central directory there.
        return Err(malformed(
            "two central directories: one where the end record points, one where it ends",
        ));
    }
    if end.entries > MAX_MEMBERS as u64 {
        return Err(malformed("too many members"));
    }
    let mut centrals = Vec::new();
    let mut at = cd_start;
    while at < end.start {
        if centrals.len() >= MAX_MEMBERS {
            return Err(malformed("too many members"));
        }
        let (central, next) = read_central(data, at, end.start)?;
        centrals.push(central);
        at = next;
    }
    if at != end.start || centrals.len() as u64 != end.entries {
        return Err(malformed(
            "the central directory does not hold the number of members the end record declares",
        ));
    }
    let mut members = Vec::with_capacity(centrals.len());
    let mut spans = Vec::with_capacity(centrals.len());
    for central in &centrals {
        let (member, span) = read_local(data, central, shift, cd_start)?;
        members.push(member);
        spans.push(span);
    }
    check_layout(data, &mut spans, cd_start)?;
    let start = usize::try_from(shift.max(0)).unwrap_or(0);
    Ok(Archive { members, start })
}

fn read_central(data: &[u8], at: usize, limit: usize) -> Result<(Central<'_>, usize), ZipError> {
    let trunc = || malformed("a truncated central directory entry");
    if !sig_at(data, at, CENTRAL_SIG) {
        return Err(malformed("a central directory entry without its signature"));
    }
    let f16 = |off| u16_at(data, at + off).ok_or_else(trunc);
    let f32 = |off| u32_at(data, at + off).ok_or_else(trunc);
    let flags = f16(8)?;
    let method = f16(10)?;
    let crc = f32(16)?;
    let (csize, usize_, name_len) = (f32(20)?, f32(24)?, usize::from(f16(28)?));
    let (extra_len, comment_len) = (usize::from(f16(30)?), usize::from(f16(32)?));
    let disk = f16(34)?;
    let offset = f32(42)?;
    // §4.4.4 bit 13: the central directory itself is encrypted.
    if flags & 0x2000 != 0 {
        return Err(malformed("an encrypted central directory"));
    }
    let name_at = at + CENTRAL_LEN;
    let extra_at = name_at + name_len;
    let next = extra_at + extra_len + comment_len;
    if next > limit {
        return Err(trunc());
    }
    let name = data.get(name_at..extra_at).ok_or_else(trunc)?;
    let extra = data.get(extra_at..extra_at + extra_len).ok_or_else(trunc)?;
    // §4.5.3: the ZIP64 extra field holds, in order, the values whose
    // ordinary fields are saturated.
    let mut values = zip64_values(extra)?.into_iter();
    let mut widen = |small: u64, saturated: u64| -> Result<u64, ZipError> {
        if small == saturated {
            values
                .next()
                .ok_or_else(|| malformed("a saturated size without its ZIP64 value"))
        } else {
            Ok(small)
        }
    };
    let usize_ = widen(u64::from(usize_), 0xffff_ffff)?;
    let csize = widen(u64::from(csize), 0xffff_ffff)?;
    let offset = widen(u64::from(offset), 0xffff_ffff)?;
    let disk = widen(u64::from(disk), 0xffff)?;
    if disk != 0 {
        return Err(malformed("a member on another disk"));
    }
    Ok((
        Central {
            name,
            flags,
            method,
            crc,
            csize,
            usize: usize_,
            offset,
        },
        next,
    ))
}

/// The 64-bit values of the ZIP64 extra field (header id 1), if present.
fn zip64_values(extra: &[u8]) -> Result<Vec<u64>, ZipError> {
    let mut at = 0;
    let mut found: Option<Vec<u64>> = None;
    while at < extra.len() {
        let bad = || malformed("a corrupt extra field");
        let id = u16_at(extra, at).ok_or_else(bad)?;
        let len = usize::from(u16_at(extra, at + 2).ok_or_else(bad)?);
        let body = extra.get(at + 4..at + 4 + len).ok_or_else(bad)?;
        if id == 1 {
            if found.is_some() {
                return Err(malformed("two ZIP64 extra fields in one header"));
            }
            found = Some(
                body.chunks(8)
                    .filter_map(|chunk| chunk.try_into().ok().map(u64::from_le_bytes))
                    .collect(),
            );
        }
        at += 4 + len;
    }
    Ok(found.unwrap_or_default())
}

/// Reads a member's local header and checks it against the central one.
/// Returns the member and the span `[header, end of data)` it occupies.
fn read_local<'a>(
    data: &'a [u8],
    central: &Central<'a>,
    shift: i128,
    cd_start: usize,
) -> Result<(Member<'a>, (usize, usize)), ZipError> {
    let shown = String::from_utf8_lossy(central.name).into_owned();
    let at = usize::try_from(i128::from(central.offset) + shift)
        .map_err(|_| malformed(format!("member `{shown}` starts outside the file")))?;
    let trunc = || malformed(format!("member `{shown}`: truncated local header"));
    if !sig_at(data, at, LOCAL_SIG) {
        return Err(malformed(format!(
            "member `{shown}`: no local header where the central directory points"
        )));
    }
    let f16 = |off| u16_at(data, at + off).ok_or_else(trunc);
    let f32 = |off| u32_at(data, at + off).ok_or_else(trunc);
    let (flags, method, crc) = (f16(6)?, f16(8)?, f32(14)?);
    let (csize, usize_) = (f32(18)?, f32(22)?);
    let (name_len, extra_len) = (usize::from(f16(26)?), usize::from(f16(28)?));
    let name_at = at + LOCAL_LEN;
    let extra_at = name_at + name_len;
    let data_at = extra_at + extra_len;
    let name = data.get(name_at..extra_at).ok_or_else(trunc)?;
    let extra = data.get(extra_at..data_at).ok_or_else(trunc)?;
    let disagree = |what: &str| {
        malformed(format!(
            "member `{shown}`: the local and central headers disagree on the {what}"
        ))
    };
    if name != central.name {
        return Err(disagree("name"));
    }
    if flags != central.flags {
        return Err(disagree("flags"));
    }
    if method != central.method {
        return Err(disagree("compression method"));
    }
    let mut values = zip64_values(extra)?.into_iter();
    let mut widen = |small: u32| -> Result<u64, ZipError> {
        if small == 0xffff_ffff {
            values
                .next()
                .ok_or_else(|| malformed(format!("member `{shown}`: a saturated local size")))
        } else {
            Ok(u64::from(small))
        }
    };
    let local_usize = widen(usize_)?;
    let local_csize = widen(csize)?;
    // §4.4.4 bit 3: sizes and CRC follow the data in a descriptor; the local
    // fields are then zero (or, from some writers, the real values).
    let deferred = flags & 0x0008 != 0;
    let agrees = |local: u64, central: u64| local == central || (deferred && local == 0);
    if !agrees(u64::from(crc), u64::from(central.crc)) {
        return Err(disagree("CRC-32"));
    }
    if !agrees(local_csize, central.csize) || !agrees(local_usize, central.usize) {
        return Err(disagree("sizes"));
    }
    let csize = usize::try_from(central.csize).map_err(|_| trunc())?;
    let end = data_at
        .checked_add(csize)
        .filter(|&end| end <= cd_start)
        .ok_or_else(|| malformed(format!("member `{shown}` runs into the central directory")))?;
    let member = Member {
        name: central.name.to_vec(),
        flags,
        method,
        size: central.usize,
        data: data.get(data_at..end).ok_or_else(trunc)?,
    };
    Ok((member, (at, end)))
}

/// Members must not overlap, and no local header may hide between them
/// (streaming readers would find it; the central directory does not name it).
fn check_layout(
    data: &[u8],
    spans: &mut [(usize, usize)],
    cd_start: usize,
) -> Result<(), ZipError> {
    spans.sort_unstable();
    let mut covered = 0;
    for &(start, end) in spans.iter() {
        if start < covered {
            return Err(malformed("members overlap"));
        }
        hidden_header(data, covered, start)?;
        covered = end;
    }
    hidden_header(data, covered, cd_start)
}

fn hidden_header(data: &[u8], from: usize, to: usize) -> Result<(), ZipError> {
    let gap = data.get(from..to).unwrap_or_default();
    if gap.windows(4).any(|w| w == LOCAL_SIG) {
        return Err(malformed(
            "a local file header the central directory does not name",
        ));
    }
    Ok(())
}

/// Builds small archives for tests and examples.
#[doc(hidden)]
pub mod tests_support {
    /// A stored (uncompressed) archive of `members`, as `torch.save` writes.
    pub fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, body) in members {
            let offset = out.len() as u32;
            let crc = crc32(body);
            let header = |sig: &[u8], central_fields: bool| {
                let mut h = sig.to_vec();
                if central_fields {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                h.extend_from_slice(&20u16.to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes()); // flags
                h.extend_from_slice(&0u16.to_le_bytes()); // method
                h.extend_from_slice(&[0, 0, 0x21, 0x5a]); // time, date
                h.extend_from_slice(&crc.to_le_bytes());
                h.extend_from_slice(&(body.len() as u32).to_le_bytes());
                h.extend_from_slice(&(body.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes()); // extra
                h
            };
            out.extend(header(b"PK\x03\x04", false));
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(body);
            central.extend(header(b"PK\x01\x02", true));
            central.extend_from_slice(&[0; 10]); // comment, disk, attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::tests_support::stored_zip;
    use super::*;

    fn members(data: &[u8]) -> Vec<String> {
        find(data)
            .unwrap()
            .unwrap()
            .members()
            .iter()
            .map(Member::name)
            .collect()
    }

    fn refused(data: &[u8]) -> String {
        match find(data) {
            Some(Err(err)) => err.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn every_member_the_central_directory_names() {
        let zip = stored_zip(&[("a/data.pkl", b"N."), ("a/version", b"3\n")]);
        assert_eq!(members(&zip), ["a/data.pkl", "a/version"]);
        assert!(find(b"not a zip at all").is_none());
        assert!(find(b"").is_none());
    }

    #[test]
    fn a_prefix_does_not_hide_the_archive() {
        let mut file = b"PK\x07\x08 anything".to_vec();
        file.extend(stored_zip(&[("a/data.pkl", b"N.")]));
        let archive = find(&file).unwrap().unwrap();
        assert_eq!(archive.start(), 13);
        assert_eq!(archive.members()[0].contents(100).unwrap().as_ref(), b"N.");
    }

    #[test]
    fn headers_that_disagree_are_refused() {
        let mut zip = stored_zip(&[("a/data.pkl", b"N.")]);
        // Rename the member in its local header only.
        zip[30] = b'b';
        assert!(
            refused(&zip).contains("disagree on the name"),
            "{}",
            refused(&zip)
        );
        let mut zip = stored_zip(&[("a/data.pkl", b"N.")]);
        zip[8] = 8; // local method: deflate
        assert!(refused(&zip).contains("compression method"));
        let mut zip = stored_zip(&[("a/data.pkl", b"N.")]);
        zip[18] = 1; // local compressed size
        assert!(refused(&zip).contains("sizes"));
    }

    #[test]
    fn trailing_bytes_and_hidden_headers_are_refused() {
        let mut zip = stored_zip(&[("a/data.pkl", b"N.")]);
        zip.extend_from_slice(b"junk");
        assert!(refused(&zip).contains("comment"));
        // A local header between the members that the directory never names.
        let zip = stored_zip(&[("a/x", b"PK\x03\x04")]);
        assert_eq!(members(&zip), ["a/x"], "inside a member is fine");
        let mut hidden = b"PK\x03\x04hidden".to_vec();
        hidden.extend(stored_zip(&[("a/x", b"")]));
        assert!(refused(&hidden).contains("does not name"));
    }

    #[test]
    fn truncated_and_absent_end_records() {
        let zip = stored_zip(&[("a/data.pkl", b"N.")]);
        let cut = &zip[..zip.len() - 5];
        assert!(refused(cut).contains("no end-of-central-directory"));
        // The directory still points at local headers that are gone.
        assert!(refused(&zip[30..]).contains("outside the file"));
    }

    #[test]
    fn deflated_members_are_inflated() {
        let body = b"(lp0\nI1\naI2\na.".repeat(20);
        let deflated = miniz_oxide::deflate::compress_to_vec(&body, 6);
        let mut zip = stored_zip(&[("a/data.pkl", &deflated)]);
        // Patch method (8) and uncompressed size in both headers.
        zip[8] = 8;
        let usize_ = (body.len() as u32).to_le_bytes();
        zip[22..26].copy_from_slice(&usize_);
        let cd = zip.len() - 22 - (46 + 10);
        zip[cd + 10] = 8;
        zip[cd + 24..cd + 28].copy_from_slice(&usize_);
        let archive = find(&zip).unwrap().unwrap();
        let member = &archive.members()[0];
        assert_eq!(member.contents(1 << 20).unwrap().as_ref(), body.as_slice());
        assert_eq!(member.head(10).unwrap().as_ref(), &body[..10]);
        assert!(matches!(
            member.contents(10),
            Err(ZipError::TooLarge { .. })
        ));
    }
}
