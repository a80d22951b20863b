//! A static scan of pickle streams (pickle, joblib, PyTorch checkpoints).
//!
//! Unpickling runs code: any `module.name` a pickle imports through `GLOBAL`,
//! `STACK_GLOBAL` or `INST` can be called while loading. Outpost stores such
//! artifacts but never loads them; it walks the opcodes without executing
//! anything, lists every global the stream would import, and marks the version
//! `unsafe` when one falls outside an allow-list of data-only constructors.
//! Anything the walker cannot follow (an unknown opcode, a truncated stream, a
//! global built from values it cannot see) is itself a reason to distrust the
//! file: the scan fails closed.

use serde::Serialize;

/// Globals that only rebuild data (containers, arrays, tensors, estimators'
/// state). Entries ending in `.` allow a whole module prefix.
pub const SAFE_GLOBALS: &[&str] = &[
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.slice",
    "builtins.range",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.str",
    "__builtin__.set",
    "copy_reg._reconstructor",
    "copyreg._reconstructor",
    "builtins.object",
    "__builtin__.object",
    "collections.OrderedDict",
    "collections.defaultdict",
    "datetime.datetime",
    "datetime.date",
    "datetime.timedelta",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.random._pickle.",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._tensor._rebuild_from_type_v2",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.float32",
    "torch.float16",
    "torch.bfloat16",
    "torch.int64",
    "torch.Size",
];

pub fn is_safe_global(global: &str) -> bool {
    SAFE_GLOBALS.iter().any(|allowed| {
        if allowed.ends_with('.') {
            global.starts_with(allowed)
        } else {
            global == *allowed
        }
    })
}

/// What the scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickleScan {
    /// Every global imported, in order of first appearance.
    pub globals: Vec<String>,
    /// The globals outside the allow-list.
    pub unsafe_globals: Vec<String>,
    /// Why the stream could not be fully followed, if it could not.
    pub unparsed: Option<String>,
    /// The pickle protocol declared by `PROTO`, if any.
    pub protocol: Option<u8>,
}

impl PickleScan {
    pub fn is_safe(&self) -> bool {
        self.unsafe_globals.is_empty() && self.unparsed.is_none()
    }

    /// One sentence for the version's `status_reason`.
    pub fn reason(&self) -> Option<String> {
        if !self.unsafe_globals.is_empty() {
            return Some(format!(
                "pickle imports globals outside the safe allow-list: {}",
                self.unsafe_globals.join(", ")
            ));
        }
        self.unparsed
            .as_ref()
            .map(|why| format!("pickle stream could not be fully scanned: {why}"))
    }
}

/// A value on the walker's model of the pickle stack: a string it can see, or
/// something else.
#[derive(Debug, Clone)]
enum Slot {
    Str(String),
    Other,
}

struct Walker<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Walker<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| format!("truncated at offset {}", self.pos))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, String> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.data[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("unterminated line at offset {}", self.pos))?;
        let out = &rest[..len];
        self.pos += len + 1;
        Ok(out)
    }

    fn sized(&mut self, len: u64) -> Result<&'a [u8], String> {
        let len = usize::try_from(len).map_err(|_| "length overflows".to_owned())?;
        self.take(len)
    }
}

/// Scans one pickle stream from its start to `STOP`.
pub fn scan_pickle(data: &[u8]) -> PickleScan {
    let mut scan = PickleScan {
        globals: Vec::new(),
        unsafe_globals: Vec::new(),
        unparsed: None,
        protocol: None,
    };
    if let Err(why) = walk(data, &mut scan) {
        scan.unparsed = Some(why);
    }
    scan
}

fn record(scan: &mut PickleScan, module: &str, name: &str) {
    let global = format!("{module}.{name}");
    if !scan.globals.contains(&global) {
        if !is_safe_global(&global) {
            scan.unsafe_globals.push(global.clone());
        }
        scan.globals.push(global);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn walk(data: &[u8], scan: &mut PickleScan) -> Result<(), String> {
    let mut w = Walker { data, pos: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Slot> = std::collections::HashMap::new();
    // Bound the work on hostile input: every opcode consumes at least a byte.
    loop {
        let at = w.pos;
        let op = w.u8()?;
        match op {
            b'.' => return Ok(()),                 // STOP
            0x80 => scan.protocol = Some(w.u8()?), // PROTO
            0x95 => {
                w.take(8)?; // FRAME
            }
            // Strings the walker can see (used by STACK_GLOBAL).
            0x8c => {
                let n = u64::from(w.u8()?);
                stack.push(Slot::Str(text(w.sized(n)?)));
            } // SHORT_BINUNICODE
            b'X' => {
                let n = w.le(4)?;
                stack.push(Slot::Str(text(w.sized(n)?)));
            } // BINUNICODE
            0x8d => {
                let n = w.le(8)?;
                stack.push(Slot::Str(text(w.sized(n)?)));
            } // BINUNICODE8
            b'V' => stack.push(Slot::Str(text(w.line()?))), // UNICODE
            b'U' => {
                let n = u64::from(w.u8()?);
                stack.push(Slot::Str(text(w.sized(n)?)));
            } // SHORT_BINSTRING
            b'T' => {
                let n = w.le(4)?;
                stack.push(Slot::Str(text(w.sized(n)?)));
            } // BINSTRING
            b'S' => {
                let raw = text(w.line()?);
                stack.push(Slot::Str(
                    raw.trim_matches(|c| c == '\'' || c == '"').to_owned(),
                ));
            } // STRING
            // Imports.
            b'c' => {
                let module = text(w.line()?);
                let name = text(w.line()?);
                record(scan, &module, &name);
                stack.push(Slot::Other);
            } // GLOBAL
            b'i' => {
                let module = text(w.line()?);
                let name = text(w.line()?);
                record(scan, &module, &name);
                pop_mark(&mut stack);
                stack.push(Slot::Other);
            } // INST
            0x93 => {
                let name = stack.pop();
                let module = stack.pop();
                match (module, name) {
                    (Some(Slot::Str(module)), Some(Slot::Str(name))) => {
                        record(scan, &module, &name);
                    }
                    _ => {
                        return Err(format!(
                            "STACK_GLOBAL at offset {at} imports a name built at run time"
                        ));
                    }
                }
                stack.push(Slot::Other);
            } // STACK_GLOBAL
            0x82..=0x84 => {
                return Err(format!(
                    "extension-registry import (EXT opcode) at offset {at}"
                ));
            }
            // Memo: lets STACK_GLOBAL see strings stored and fetched again.
            b'p' => {
                let key = text(w.line()?).parse::<u64>().unwrap_or(u64::MAX);
                memo.insert(key, stack.last().cloned().unwrap_or(Slot::Other));
            } // PUT
            b'q' => {
                let key = u64::from(w.u8()?);
                memo.insert(key, stack.last().cloned().unwrap_or(Slot::Other));
            } // BINPUT
            b'r' => {
                let key = w.le(4)?;
                memo.insert(key, stack.last().cloned().unwrap_or(Slot::Other));
            } // LONG_BINPUT
            0x94 => {
                let key = memo.len() as u64;
                memo.insert(key, stack.last().cloned().unwrap_or(Slot::Other));
            } // MEMOIZE
            b'g' => {
                let key = text(w.line()?).parse::<u64>().unwrap_or(u64::MAX);
                stack.push(memo.get(&key).cloned().unwrap_or(Slot::Other));
            } // GET
            b'h' => {
                let key = u64::from(w.u8()?);
                stack.push(memo.get(&key).cloned().unwrap_or(Slot::Other));
            } // BINGET
            b'j' => {
                let key = w.le(4)?;
                stack.push(memo.get(&key).cloned().unwrap_or(Slot::Other));
            } // LONG_BINGET
            // Everything else: consume its argument, model its stack effect
            // coarsely (precision only matters for strings under STACK_GLOBAL).
            b'(' => stack.push(Slot::Other), // MARK (treated as a value marker)
            b'0' => {
                stack.pop();
            } // POP
            b'1' => pop_mark(&mut stack),    // POP_MARK
            b'2' => {
                let top = stack.last().cloned().unwrap_or(Slot::Other);
                stack.push(top);
            } // DUP
            b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | 0x8f => stack.push(Slot::Other),
            b'I' | b'L' | b'F' => {
                w.line()?;
                stack.push(Slot::Other);
            }
            b'J' => {
                w.take(4)?;
                stack.push(Slot::Other);
            }
            b'K' => {
                w.take(1)?;
                stack.push(Slot::Other);
            }
            b'M' => {
                w.take(2)?;
                stack.push(Slot::Other);
            }
            b'G' => {
                w.take(8)?;
                stack.push(Slot::Other);
            }
            0x8a => {
                let n = u64::from(w.u8()?);
                w.sized(n)?;
                stack.push(Slot::Other);
            } // LONG1
            0x8b => {
                let n = w.le(4)?;
                w.sized(n)?;
                stack.push(Slot::Other);
            } // LONG4
            b'B' => {
                let n = w.le(4)?;
                w.sized(n)?;
                stack.push(Slot::Other);
            } // BINBYTES
            b'C' => {
                let n = u64::from(w.u8()?);
                w.sized(n)?;
                stack.push(Slot::Other);
            } // SHORT_BINBYTES
            0x8e | 0x96 => {
                let n = w.le(8)?;
                w.sized(n)?;
                stack.push(Slot::Other);
            } // BINBYTES8, BYTEARRAY8
            0x97 => stack.push(Slot::Other), // NEXT_BUFFER
            0x98 => {}                       // READONLY_BUFFER
            b'P' => {
                w.line()?;
                stack.push(Slot::Other);
            } // PERSID
            b'Q' => {
                stack.pop();
                stack.push(Slot::Other);
            } // BINPERSID
            b't' | b'l' | b'd' | 0x90 => {
                pop_mark(&mut stack);
                stack.push(Slot::Other);
            } // TUPLE, LIST, DICT, FROZENSET
            b'e' | b'u' | 0x91 => pop_mark(&mut stack), // APPENDS, SETITEMS, ADDITEMS
            0x85 => {
                stack.pop();
                stack.push(Slot::Other);
            } // TUPLE1
            0x86 => {
                stack.truncate(stack.len().saturating_sub(2));
                stack.push(Slot::Other);
            } // TUPLE2
            0x87 => {
                stack.truncate(stack.len().saturating_sub(3));
                stack.push(Slot::Other);
            } // TUPLE3
            b'a' => {
                stack.pop();
            } // APPEND
            b's' => {
                stack.truncate(stack.len().saturating_sub(2));
            } // SETITEM
            b'b' => {
                stack.pop();
            } // BUILD
            b'R' => {
                stack.truncate(stack.len().saturating_sub(2));
                stack.push(Slot::Other);
            } // REDUCE
            0x81 => {
                stack.truncate(stack.len().saturating_sub(2));
                stack.push(Slot::Other);
            } // NEWOBJ
            0x92 => {
                stack.truncate(stack.len().saturating_sub(3));
                stack.push(Slot::Other);
            } // NEWOBJ_EX
            b'o' => {
                pop_mark(&mut stack);
                stack.push(Slot::Other);
            } // OBJ
            other => {
                return Err(format!("unknown opcode 0x{other:02x} at offset {at}"));
            }
        }
    }
}

/// Marks are modelled as ordinary slots; popping "to the mark" just drops one
/// value, which keeps the model conservative without tracking mark positions.
fn pop_mark(stack: &mut Vec<Slot>) {
    stack.pop();
}

/// Where the pickle of a PyTorch zip checkpoint lives: torch.save writes
/// `<archive>/data.pkl` uncompressed (ZIP "stored"). Returns the pickle bytes
/// of the first such entry, found by walking local file headers.
pub fn pytorch_zip_pickle(data: &[u8]) -> Option<&[u8]> {
    let mut pos = 0usize;
    while pos + 30 <= data.len() && data[pos..pos + 4] == *b"PK\x03\x04" {
        let field = |off: usize, n: usize| -> u64 {
            data[pos + off..pos + off + n]
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        };
        let flags = field(6, 2);
        let method = field(8, 2);
        let size = usize::try_from(field(18, 4)).ok()?;
        let name_len = usize::try_from(field(26, 2)).ok()?;
        let extra_len = usize::try_from(field(28, 2)).ok()?;
        let name_start = pos + 30;
        let body_start = name_start.checked_add(name_len)?.checked_add(extra_len)?;
        let body_end = body_start.checked_add(size)?;
        if body_end > data.len() || flags & 0x08 != 0 {
            return None; // sizes in a data descriptor: not torch.save's layout
        }
        let name = &data[name_start..name_start + name_len];
        if method == 0 && name.ends_with(b"data.pkl") {
            return Some(&data[body_start..body_end]);
        }
        pos = body_end;
    }
    None
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

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
        assert!(scan.unparsed.unwrap().contains("unterminated"));
        let unknown = scan_pickle(b"\x80\x04\xff.");
        assert!(unknown.unparsed.unwrap().contains("unknown opcode 0xff"));
        let dynamic = scan_pickle(b"\x80\x04N)\x93.");
        assert!(dynamic.unparsed.unwrap().contains("run time"));
        assert!(!scan_pickle(b"\x80\x04\x82\x01.").is_safe());
        assert!(!scan_pickle(b"").is_safe());
    }

    #[test]
    fn allow_list_prefixes() {
        assert!(is_safe_global("sklearn.ensemble._iforest.IsolationForest"));
        assert!(is_safe_global("numpy.core.multiarray._reconstruct"));
        assert!(!is_safe_global("numpy.load"));
        assert!(!is_safe_global("builtins.getattr"));
        assert!(!is_safe_global("sklearnx.evil"));
    }

    #[test]
    fn finds_the_pickle_in_a_stored_zip() {
        // A one-entry zip, method 0: "m/data.pkl" holding OS_SYSTEM_P0.
        let name = b"m/data.pkl";
        let mut zip = Vec::new();
        zip.extend_from_slice(b"PK\x03\x04");
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let size = OS_SYSTEM_P0.len() as u32;
        zip.extend_from_slice(&size.to_le_bytes());
        zip.extend_from_slice(&size.to_le_bytes());
        zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(name);
        zip.extend_from_slice(OS_SYSTEM_P0);
        let pickle = pytorch_zip_pickle(&zip).unwrap();
        assert_eq!(pickle, OS_SYSTEM_P0);
        assert_eq!(pytorch_zip_pickle(b"PK\x03\x04short"), None);
    }
}
