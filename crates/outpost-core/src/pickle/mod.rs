//! A static scan of pickle-based artifacts (pickle, joblib, PyTorch).
//!
//! Unpickling runs code: any `module.name` a pickle imports through `GLOBAL`,
//! `STACK_GLOBAL` or `INST` can be called while loading. Outpost stores such
//! artifacts but never loads them; it runs a model of the unpickler over the
//! bytes, without executing anything, lists every global the loaders would
//! import, and marks the version `unsafe` when one falls outside an
//! allow-list of data-only constructors ([`SAFE_GLOBALS`]).
//!
//! The scan sees what the loaders see:
//!
//! - **A pickle is recognised by parsing**, not by a magic prefix: protocols 0
//!   and 1 have no `PROTO` opcode ([`looks_like_pickle`]).
//! - **The machine is modelled exactly** — stack, mark stack, memo — after
//!   CPython's `_Unpickler` (`Lib/pickle.py`), so `MARK`/`POP_MARK` or memo
//!   tricks cannot make the scan see other values than CPython does.
//! - **Every pickle in a stream is scanned.** `pickle.load` called again on
//!   the same file runs the next one; whether the loader keeps its memo
//!   between calls (one `Unpickler`) or not (`pickle.load` each time), both
//!   are followed.
//! - **joblib is followed too.** `joblib.load` reads numpy array bytes straight
//!   from the file after each `NumpyArrayWrapper`, where `pickle.load` would
//!   see opcodes. Both readings are scanned: joblib's must parse cleanly; the
//!   plain-pickle reading may stop at an error CPython raises too, once it
//!   has run into joblib's array bytes (modern joblib puts a padding-length
//!   byte of 1–16 there, never an opcode).
//! - **Zip containers are found from their end** (PyTorch checkpoints, via
//!   [`crate::zip`]), and every member that is or parses as a pickle is
//!   scanned, not only `data.pkl`.
//!
//! Bytes after the last pickle are accepted only when their first byte is not
//! an opcode: a loader calling `pickle.load` again stops there with "invalid
//! load key" before doing anything. Anything else that cannot be followed —
//! a truncated stream, an unknown opcode, stack underflow, a memo miss, a
//! global whose name is built at run time — makes the scan fail closed:
//! "could not be scanned".
//!
//! Known limits, all failing closed: compressed joblib files (zlib, gzip, …)
//! are not inflated; joblib files older than 1.2 (no alignment padding)
//! whose first array byte happens to be an opcode, and pre-1.6 PyTorch
//! files whose storage bytes follow the pickles, may be refused; archive
//! members compressed other than by deflate are refused.
//!
//! ```
//! use outpost_core::pickle::scan_pickle;
//!
//! // Protocol 0, no PROTO opcode: os.system("echo hi").
//! let scan = scan_pickle(b"cos\nsystem\n(S'echo hi'\ntR.");
//! assert!(!scan.is_safe());
//! assert_eq!(scan.unsafe_globals, ["os.system"]);
//! ```

mod allow;
mod machine;
mod numpy;

use serde::Serialize;

pub use allow::{SAFE_GLOBALS, is_safe_global};
use machine::{Fault, FaultKind, Global, Machine, Mode, is_opcode};

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PickleScan {
    /// Every global a loader would import, as it resolves them, in order of
    /// first appearance.
    pub globals: Vec<String>,
    /// The globals outside the allow-list.
    pub unsafe_globals: Vec<String>,
    /// Why the bytes could not be fully followed, if they could not.
    pub unparsed: Option<String>,
    /// The pickle protocol declared by the first `PROTO`, if any.
    pub protocol: Option<u8>,
    /// How many complete pickles were found.
    pub pickles: usize,
    /// For archives: the members scanned as pickles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl PickleScan {
    pub fn is_safe(&self) -> bool {
        self.unsafe_globals.is_empty() && self.unparsed.is_none()
    }

    /// One sentence for the version's `status_reason`.
    pub fn reason(&self) -> Option<String> {
        let unparsed = self.unparsed.as_ref();
        if !self.unsafe_globals.is_empty() {
            let also = unparsed
                .map(|why| format!("; it also could not be scanned: {why}"))
                .unwrap_or_default();
            return Some(format!(
                "pickle imports globals outside the safe allow-list: {}{also}",
                self.unsafe_globals.join(", ")
            ));
        }
        unparsed.map(|why| format!("pickle could not be scanned: {why}"))
    }

    fn fail(&mut self, why: impl Into<String>) {
        self.unparsed.get_or_insert_with(|| why.into());
    }

    fn add_global(&mut self, global: &Global) {
        let shown = global.to_string();
        if !self.globals.contains(&shown) {
            if !global.allowed {
                self.unsafe_globals.push(shown.clone());
            }
            self.globals.push(shown);
        }
    }

    /// Folds the scan of a part (an archive member) into this one.
    fn merge(&mut self, part: PickleScan, context: &str) {
        for global in part.globals {
            if !self.globals.contains(&global) {
                self.globals.push(global);
            }
        }
        for global in part.unsafe_globals {
            if !self.unsafe_globals.contains(&global) {
                self.unsafe_globals.push(global);
            }
        }
        if let Some(why) = part.unparsed {
            self.fail(format!("{context}: {why}"));
        }
        if self.protocol.is_none() {
            self.protocol = part.protocol;
        }
        self.pickles += part.pickles;
    }
}

/// Whether the memo survives from one `load()` to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memo {
    /// `pickle.load(f)` called again: a new unpickler each time.
    Fresh,
    /// One `Unpickler(f)` whose `load()` is called again.
    Kept,
}

/// One loader's reading of a stream.
#[derive(Debug)]
struct Run {
    findings: machine::Findings,
    fault: Option<Fault>,
    /// `load()` calls begun, and completed.
    started: usize,
    pickles: usize,
    /// Where the run ended (for a fault: how far the machine read).
    end: usize,
}

fn run(data: &[u8], mode: Mode, memo: Memo, max_pickles: Option<usize>) -> Run {
    let mut machine = Machine::new(data, mode);
    let (mut started, mut pickles, mut fault) = (0, 0, None);
    loop {
        if max_pickles == Some(started) {
            break;
        }
        let Some(&next) = data.get(machine.pos) else {
            if started == 0 {
                fault = Some(Fault {
                    at: 0,
                    kind: FaultKind::Halt,
                    why: "the stream is empty".into(),
                });
            }
            break;
        };
        // After a pickle, a byte that is no opcode ends every loader's reading.
        if started > 0 && !is_opcode(next) {
            break;
        }
        if memo == Memo::Fresh {
            machine.clear_memo();
        }
        started += 1;
        match machine.load_one() {
            Ok(()) => pickles += 1,
            Err(err) => {
                fault = Some(err);
                break;
            }
        }
    }
    Run {
        end: machine.pos,
        findings: machine.findings,
        fault,
        started,
        pickles,
    }
}

fn describe(fault: &Fault) -> String {
    format!("{} at offset {}", fault.why, fault.at)
}

/// Scans a pickle stream: every pickle in it, as `pickle.load` (fresh or
/// kept memo) and as `joblib.load` would read it.
pub fn scan_pickle(data: &[u8]) -> PickleScan {
    let plain = run(data, Mode::Pickle, Memo::Fresh, None);
    // joblib's reading departs from the plain one only at a `BUILD` of an
    // array wrapper, or of an object whose class is unknown; both need one of
    // these globals first, which the plain reading would have imported too.
    let joblib = plain
        .findings
        .imports
        .iter()
        .any(|g| g.is(allow::ARRAY_WRAPPER) || g.is(allow::REBUILD_FROM_TYPE))
        .then(|| run(data, Mode::Joblib, Memo::Fresh, None));
    let kept = (plain.started > 1).then(|| run(data, Mode::Pickle, Memo::Kept, None));
    let divergence = joblib.as_ref().and_then(|j| j.findings.divergence);

    let mut scan = PickleScan {
        protocol: plain.findings.protocol,
        pickles: plain.pickles.max(joblib.as_ref().map_or(0, |j| j.pickles)),
        ..PickleScan::default()
    };
    let runs = [Some(&plain), joblib.as_ref(), kept.as_ref()];
    for run in runs.iter().flatten() {
        for global in &run.findings.imports {
            scan.add_global(global);
        }
    }
    // A plain reading may stop at an error CPython raises too, once it has
    // left the bytes joblib reads as pickle; before that point, or for any
    // other kind of stop, the scan fails closed.
    let after_divergence = |fault: &Fault| divergence.is_some_and(|d| fault.at >= d);
    let plain_runs = [Some(&plain), kept.as_ref()];
    for fault in plain_runs
        .into_iter()
        .flatten()
        .filter_map(|run| run.fault.as_ref())
    {
        if !(fault.kind == FaultKind::Halt && after_divergence(fault)) {
            scan.fail(describe(fault));
        }
    }
    // joblib's reading only differs from the plain one after its first array.
    let joblib_fault = joblib.as_ref().and_then(|j| j.fault.as_ref());
    if let Some(fault) = joblib_fault.filter(|f| after_divergence(f)) {
        scan.fail(format!("as joblib reads it: {}", describe(fault)));
    }
    for run in runs.iter().flatten() {
        if let Some(note) = run.findings.notes.first() {
            scan.fail(describe(note));
        }
    }
    scan
}

/// Whether `data` is a pickle stream: it starts with `PROTO` 0–5, or
/// [`parses_as_pickle`]. Text and other binary formats stop at once.
pub fn looks_like_pickle(data: &[u8]) -> bool {
    matches!(data, [0x80, 0..=5, ..]) || parses_as_pickle(data)
}

/// Whether the unpickler, run from the first byte, reaches `STOP` or imports
/// a global before any error: what a loader would act on, whatever the
/// first bytes look like.
pub fn parses_as_pickle(data: &[u8]) -> bool {
    probe(data) == Probe::Pickle
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Pickle,
    NotPickle,
    /// Ran out of bytes before deciding.
    Undecided,
}

fn probe(data: &[u8]) -> Probe {
    let first = run(data, Mode::Pickle, Memo::Fresh, Some(1));
    if first.pickles == 1 || first.findings.imported {
        Probe::Pickle
    } else if first.end >= data.len() {
        Probe::Undecided
    } else {
        Probe::NotPickle
    }
}

/// Inflated members are read up to this size; larger ones fail closed.
const MAX_MEMBER: usize = 64 << 20;
/// How much of a compressed member is inflated to decide whether it is a
/// pickle.
const PROBE_BYTES: usize = 64 << 10;

/// Scans a zip archive (a PyTorch checkpoint) if `data` holds one: every
/// member that is named as or parses as a pickle, and the bytes before the
/// archive if a pickle loader reading from the start would run them.
/// `None` when there is no archive.
pub fn scan_zip(data: &[u8]) -> Option<PickleScan> {
    let found = crate::zip::find(data)?;
    let mut scan = PickleScan::default();
    let archive = match found {
        Ok(archive) => archive,
        Err(err) => {
            scan.fail(format!(
                "the zip archive cannot be read unambiguously: {err}"
            ));
            return Some(scan);
        }
    };
    // A file that starts with a local header is no pickle to `pickle.load`
    // (`P` is PERSID, which plain loaders refuse); anything else before the
    // archive is read as one.
    if !data.starts_with(b"PK\x03\x04") && looks_like_pickle(data) {
        scan.members.push("(bytes before the archive)".into());
        scan.merge(scan_pickle(data), "the bytes before the archive");
    }
    for member in archive.members() {
        if member.is_directory() {
            continue;
        }
        let name = member.name();
        let lower = name.to_ascii_lowercase();
        let named = lower.ends_with(".pkl") || lower.ends_with(".pickle");
        let contents = if named {
            member.contents(MAX_MEMBER)
        } else {
            match member.head(PROBE_BYTES) {
                Ok(head) => match probe(&head) {
                    Probe::NotPickle => continue,
                    Probe::Undecided if head.len() as u64 == member.size() => continue,
                    Probe::Pickle | Probe::Undecided => member.contents(MAX_MEMBER),
                },
                Err(err) => Err(err),
            }
        };
        match contents {
            Ok(bytes) if named || probe(&bytes) == Probe::Pickle => {
                scan.members.push(name.clone());
                scan.merge(scan_pickle(&bytes), &format!("member {name}"));
            }
            Ok(_) => {}
            Err(err) => scan.fail(format!("member {name} could not be read: {err}")),
        }
    }
    if scan.members.is_empty() {
        scan.fail(
            "the archive holds no pickle (a PyTorch checkpoint keeps one in <archive>/data.pkl)",
        );
    }
    Some(scan)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::zip::tests_support::stored_zip;

    // Produced by CPython 3.11: pickle.dumps({"a": [1, 2.5]}, protocol=4).
    const DICT_P4: &[u8] = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00es.";
    // pickle.dumps(collections.OrderedDict(), protocol=2).
    const ORDERED_P2: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01.";
    // The classic exploit: os.system("echo pwned") via protocol 0 GLOBAL/REDUCE.
    const OS_SYSTEM_P0: &[u8] = b"cos\nsystem\n(S'echo pwned'\ntR.";
    // Same through STACK_GLOBAL (protocol 4):
    // pickle.dumps(Exploit()) where __reduce__ returns (posix.system, ("id",)).
    const POSIX_SYSTEM_P4: &[u8] = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";

    #[test]
    fn plain_data_is_safe() {
        let scan = scan_pickle(DICT_P4);
        assert!(scan.is_safe(), "{scan:?}");
        assert_eq!(scan.protocol, Some(4));
        assert!(scan.globals.is_empty());
        let scan = scan_pickle(ORDERED_P2);
        assert!(scan.is_safe(), "{scan:?}");
        assert_eq!(scan.globals, vec!["collections.OrderedDict"]);
    }

    #[test]
    fn os_system_is_named() {
        let scan = scan_pickle(OS_SYSTEM_P0);
        assert!(!scan.is_safe());
        assert_eq!(scan.unsafe_globals, vec!["os.system"]);
        assert!(scan.reason().unwrap().contains("os.system"));
    }

    #[test]
    fn stack_global_is_resolved_from_the_pushed_strings() {
        let scan = scan_pickle(POSIX_SYSTEM_P4);
        assert_eq!(scan.unsafe_globals, vec!["posix.system"], "{scan:?}");
    }

    #[test]
    fn stack_global_through_the_memo_is_resolved() {
        // push "builtins", memoize, push "eval", memoize, get both back, STACK_GLOBAL.
        let data = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94h\x00h\x01\x93.";
        let scan = scan_pickle(data);
        assert!(
            scan.unsafe_globals.contains(&"builtins.eval".to_owned()),
            "{scan:?}"
        );
    }

    #[test]
    fn what_cannot_be_followed_fails_closed() {
        let truncated = &OS_SYSTEM_P0[..6];
        let scan = scan_pickle(truncated);
        assert!(!scan.is_safe());
        let unknown = scan_pickle(b"\x80\x04\xff.");
        assert!(unknown.unparsed.unwrap().contains("unknown opcode 0xff"));
        let dynamic = scan_pickle(b"\x80\x04N)\x93.");
        assert!(
            dynamic
                .unparsed
                .unwrap()
                .contains("STACK_GLOBAL requires str")
        );
        let built = scan_pickle(b"\x80\x04cbuiltins\nstr\n\x8c\x02os\x85R\x8c\x06system\x93.");
        assert!(
            built.unparsed.unwrap().contains("cannot see"),
            "a str built by a call"
        );
        assert!(!scan_pickle(b"\x80\x04\x82\x01.").is_safe());
        assert!(!scan_pickle(b"").is_safe());
        let underflow = scan_pickle(b"\x80\x02R.");
        assert!(underflow.unparsed.unwrap().contains("stack underflow"));
        let miss = scan_pickle(b"\x80\x02h\x07.");
        assert!(miss.unparsed.unwrap().contains("memo"));
    }

    #[test]
    fn python_2_names_resolve_before_the_check() {
        // pickle.dumps(set(), protocol=2) spells builtins as __builtin__.
        let scan = scan_pickle(b"\x80\x02c__builtin__\nset\nq\x00]q\x01\x85q\x02Rq\x03.");
        assert!(scan.is_safe(), "{scan:?}");
        assert_eq!(scan.globals, ["builtins.set"]);
        let scan = scan_pickle(b"c__builtin__\neval\n(S'1'\ntR.");
        assert_eq!(scan.unsafe_globals, ["builtins.eval"]);
        // Protocol 3+ does not map: __builtin__ does not exist in Python 3.
        let scan = scan_pickle(b"\x80\x03c__builtin__\nset\n)R.");
        assert_eq!(scan.unsafe_globals, ["__builtin__.set"]);
    }

    #[test]
    fn trailing_bytes_are_benign_only_if_no_loader_reads_on() {
        let mut data = DICT_P4.to_vec();
        data.extend_from_slice(b"\n\x00\x01");
        assert!(scan_pickle(&data).is_safe());
        let mut data = DICT_P4.to_vec();
        data.extend_from_slice(b"K\x01");
        assert!(scan_pickle(&data).unparsed.unwrap().contains("before STOP"));
    }

    #[test]
    fn a_second_pickle_sees_the_memo_only_if_the_loader_keeps_it() {
        // First pickle memoizes "os" and "system"; the second fetches them.
        let mut data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x86.".to_vec();
        data.extend_from_slice(b"\x80\x04h\x00h\x01\x93)R.");
        let scan = scan_pickle(&data);
        assert_eq!(scan.unsafe_globals, ["os.system"], "{scan:?}");
        // The MEMOIZE index continues with a kept memo: "builtins", "eval"
        // land at 2 and 3 there, at 0 and 1 with a fresh one.
        let mut data = b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x86.".to_vec();
        data.extend_from_slice(b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94h\x00h\x01\x93)R.");
        let scan = scan_pickle(&data);
        assert!(
            scan.unsafe_globals.contains(&"builtins.eval".to_owned()),
            "{scan:?}"
        );
        assert!(scan.globals.contains(&"collections.OrderedDict".to_owned()));
    }

    #[test]
    fn zip_members_are_all_scanned() {
        let zip = stored_zip(&[
            ("m/data.pkl", ORDERED_P2),
            ("m/extra.pkl", OS_SYSTEM_P0),
            ("m/version", b"3\n"),
            ("m/data/0", &[0u8, 0, 0x80, 0x3f]),
        ]);
        let scan = scan_zip(&zip).unwrap();
        assert_eq!(scan.members, ["m/data.pkl", "m/extra.pkl"]);
        assert_eq!(scan.unsafe_globals, ["os.system"]);
        // A member that parses as a pickle, whatever its name.
        let zip = stored_zip(&[("m/data.pkl", ORDERED_P2), ("m/constants", POSIX_SYSTEM_P4)]);
        assert_eq!(scan_zip(&zip).unwrap().unsafe_globals, ["posix.system"]);
        assert!(scan_zip(b"no archive").is_none());
        let empty = scan_zip(&stored_zip(&[("m/version", b"3\n")])).unwrap();
        assert!(empty.unparsed.unwrap().contains("no pickle"));
    }

    #[test]
    fn a_pickle_in_front_of_an_archive_is_scanned_too() {
        let mut file = OS_SYSTEM_P0.to_vec();
        file.extend(stored_zip(&[("m/data.pkl", ORDERED_P2)]));
        let scan = scan_zip(&file).unwrap();
        assert_eq!(scan.unsafe_globals, ["os.system"], "{scan:?}");
    }

    /// Mutated and truncated inputs: the scan must answer, never panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let zip = stored_zip(&[("m/data.pkl", POSIX_SYSTEM_P4), ("m/x", DICT_P4)]);
        let seeds: [&[u8]; 5] = [OS_SYSTEM_P0, DICT_P4, POSIX_SYSTEM_P4, ORDERED_P2, &zip];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let seed = seeds[round % seeds.len()];
            let mut data = seed.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % data.len().max(1);
                match next() % 3 {
                    0 => {
                        if let Some(byte) = data.get_mut(at) {
                            *byte = next() as u8;
                        }
                    }
                    1 => data.truncate(at),
                    _ => data.insert(at.min(data.len()), next() as u8),
                }
            }
            let _ = scan_pickle(&data);
            let _ = scan_zip(&data);
            let _ = looks_like_pickle(&data);
        }
    }

    #[test]
    fn pickles_are_recognised_by_parsing() {
        assert!(looks_like_pickle(OS_SYSTEM_P0));
        assert!(looks_like_pickle(b"(lp0\nI1\na."));
        assert!(looks_like_pickle(b"]."));
        assert!(looks_like_pickle(b"\x80\x02"));
        assert!(!looks_like_pickle(b"plain text"));
        assert!(!looks_like_pickle(b"hello world"));
        assert!(!looks_like_pickle(b"a,b\n1,2\n"));
        assert!(!looks_like_pickle(b"{\"json\": 1}"));
        assert!(!looks_like_pickle(&[0x08, 0x07, 0x12, 0x04]));
        assert!(!looks_like_pickle(b""));
    }
}
