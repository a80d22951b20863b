//! The pickle machine, modelled opcode by opcode on CPython's unpickler.
//!
//! The semantics follow `_Unpickler` in CPython's `Lib/pickle.py` (3.11) and,
//! where the C accelerator `Modules/_pickle.c` accepts more, the C code: the
//! model must never stop where a real loader goes on, because what a loader
//! does after that point would go unseen.
//!
//! - The stack is split the way `pickle.py` splits it: `MARK` pushes the
//!   current stack onto a metastack and starts an empty one; `POP_MARK` and
//!   every opcode that consumes "to the mark" (`TUPLE`, `LIST`, `DICT`,
//!   `APPENDS`, `SETITEMS`, `ADDITEMS`, `FROZENSET`, `OBJ`, `INST`) take the
//!   current stack and restore the one below. Values below a mark are out of
//!   reach until then, exactly as in CPython, so `STACK_GLOBAL`, `REDUCE`,
//!   `BUILD` and friends see the values CPython would.
//! - The memo holds the same values under the same keys (`MEMOIZE` uses the
//!   number of keys, as `len(memo)` does).
//! - Mutable containers (lists, dicts, instances) live in an arena and are
//!   shared by reference, so a dict filled after it was memoized is seen
//!   filled when fetched again.
//!
//! Values are tracked only as far as a decision needs them: strings (for
//! `STACK_GLOBAL`), small integers and containers (for joblib's array
//! wrappers), imported globals (for calls). Where a decision needs a value the
//! model cannot see, it records a note ("could not be scanned") and carries
//! on with an opaque value.
//!
//! Every stop is classified. A [`FaultKind::Halt`] is an error CPython raises
//! too, at the same opcode (truncation, an unknown opcode, stack or mark
//! underflow, a memo miss, a value that certainly is not callable): nothing
//! after it runs. A [`FaultKind::Unscannable`] is a limit of the model.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::allow;
use super::numpy;

/// Elements kept per container; longer containers are marked incomplete.
const TRACKED: usize = 256;
/// Bounds on the work hostile input can cause (CPython's own memory aside).
const MAX_OBJECTS: usize = 1 << 22;
const MAX_MEMO: usize = 1 << 22;
const MAX_STACK: usize = 1 << 23;

/// Whether `byte` starts an opcode CPython's unpickler knows (protocols 0–5).
pub(super) fn is_opcode(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')'
            | b'.'
            | b'0'
            | b'1'
            | b'2'
            | b'B'
            | b'C'
            | b'F'
            | b'G'
            | b'I'
            | b'J'
            | b'K'
            | b'L'
            | b'M'
            | b'N'
            | b'P'
            | b'Q'
            | b'R'
            | b'S'
            | b'T'
            | b'U'
            | b'V'
            | b'X'
            | b']'
            | b'a'
            | b'b'
            | b'c'
            | b'd'
            | b'e'
            | b'g'
            | b'h'
            | b'i'
            | b'j'
            | b'l'
            | b'o'
            | b'p'
            | b'q'
            | b'r'
            | b's'
            | b't'
            | b'u'
            | b'}'
            | 0x80..=0x98
    )
}

/// Which loader the machine stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `pickle.load` / `pickle.Unpickler.load`.
    Pickle,
    /// `joblib.load`: `pickle._Unpickler` whose `BUILD` of a
    /// `NumpyArrayWrapper` reads the array's bytes straight from the file.
    Joblib,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaultKind {
    /// CPython raises here too; nothing after this opcode runs.
    Halt,
    /// The model cannot follow what the loader would do.
    Unscannable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    pub(super) at: usize,
    pub(super) kind: FaultKind,
    pub(super) why: String,
}

fn halt(at: usize, why: impl Into<String>) -> Fault {
    Fault {
        at,
        kind: FaultKind::Halt,
        why: why.into(),
    }
}

fn unscannable(at: usize, why: impl Into<String>) -> Fault {
    Fault {
        at,
        kind: FaultKind::Unscannable,
        why: why.into(),
    }
}

/// A global as the loader resolves it (after the Python 2 name mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Global {
    pub(super) module: String,
    pub(super) name: String,
    pub(super) allowed: bool,
}

impl Global {
    pub(super) fn is(&self, (module, name): (&str, &str)) -> bool {
        self.module == module && self.name == name
    }
}

impl std::fmt::Display for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// What one run of the machine found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// Every global `find_class` was asked for, in order, once each.
    pub(super) imports: Vec<Global>,
    seen: HashSet<(String, String)>,
    /// Places the model could not follow but carried on from.
    pub(super) notes: Vec<Fault>,
    /// Where joblib first read array bytes the plain unpickler would take
    /// for opcodes.
    pub(super) divergence: Option<usize>,
    /// The first `PROTO` seen.
    pub(super) protocol: Option<u8>,
    /// Whether any opcode asked for a global (even one it could not name).
    pub(super) imported: bool,
}

/// A value on the stack, in the memo or inside a container.
#[derive(Debug, Clone)]
pub(super) enum Val {
    None,
    Bool(bool),
    /// `None` when too large for an `i64` (the value never matters then).
    Int(Option<i64>),
    /// The text, and whether it is exactly what every loader sees (false when
    /// it depends on the loader's `encoding` or was not valid UTF-8).
    Str(Rc<str>, bool),
    /// Floats, bytes, bytearrays, frozensets, buffers, arrays: not callable,
    /// not `str`, contents irrelevant.
    Data,
    Tuple(Rc<Seq>),
    /// A mutable object in the arena.
    Ref(usize),
    Global(Rc<Global>),
    /// Anything the model cannot characterise.
    Opaque,
}

/// A sequence whose first [`TRACKED`] items are kept.
#[derive(Debug, Clone, Default)]
pub(super) struct Seq {
    pub(super) items: Vec<Val>,
    pub(super) len: usize,
}

impl Seq {
    fn from_vec(mut items: Vec<Val>) -> Self {
        let len = items.len();
        items.truncate(TRACKED);
        Seq { items, len }
    }

    fn push(&mut self, value: Val) {
        if self.items.len() < TRACKED {
            self.items.push(value);
        }
        self.len = self.len.saturating_add(1);
    }

    pub(super) fn complete(&self) -> Option<&[Val]> {
        (self.items.len() == self.len).then_some(self.items.as_slice())
    }
}

/// A dict's items, while the model can tell which keys it holds.
#[derive(Debug, Clone)]
pub(super) struct Dict {
    pub(super) items: Vec<(Val, Val)>,
    /// False once a key the model cannot compare (an object that may be a
    /// `str` subclass or equal to one) was stored, or too many were.
    pub(super) certain: bool,
}

impl Dict {
    fn set(&mut self, key: Val, value: Val) {
        if !self.certain {
            return;
        }
        match &key {
            Val::Str(text, true) => {
                let existing = self.items.iter_mut().find(
                    |(k, _)| matches!(k, Val::Str(other, true) if other.as_ref() == text.as_ref()),
                );
                if let Some(slot) = existing {
                    slot.1 = value;
                    return;
                }
            }
            Val::None | Val::Bool(_) | Val::Int(_) | Val::Data | Val::Tuple(_) | Val::Global(_) => {
            }
            _ => {
                self.certain = false;
                self.items.clear();
                return;
            }
        }
        if self.items.len() >= TRACKED {
            self.certain = false;
            self.items.clear();
        } else {
            self.items.push((key, value));
        }
    }
}

/// An object built by calling or instantiating something.
#[derive(Debug, Clone)]
pub(super) struct Instance {
    /// The class (or function) that built it; `None` when unknown.
    pub(super) class: Option<Rc<Global>>,
    /// Its attributes, when known exactly (no `__init__` ran and every
    /// `BUILD` state was visible).
    pub(super) attrs: Option<Vec<(Rc<str>, Val)>>,
    /// The arguments it was built from, and whether keyword arguments too.
    pub(super) args: Option<Val>,
    pub(super) kwargs: bool,
    /// The last `BUILD` state (`__setstate__` argument).
    pub(super) state: Option<Val>,
}

impl Instance {
    pub(super) fn is(&self, global: (&str, &str)) -> bool {
        self.class.as_ref().is_some_and(|c| c.is(global))
    }
}

#[derive(Debug, Clone)]
pub(super) enum Obj {
    List(Seq),
    Dict(Dict),
    Set,
    Instance(Instance),
}

/// How a callable is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `REDUCE`, and `OBJ`/`INST` with arguments: `callable(*args)`.
    Call,
    /// `NEWOBJ`/`NEWOBJ_EX`, and `OBJ`/`INST` without arguments:
    /// `cls.__new__(cls, *args)`, no `__init__`.
    New { kwargs: bool },
}

/// The unpickler: value stack, metastack, memo, protocol, frame.
#[derive(Debug)]
pub(super) struct Machine<'d> {
    data: &'d [u8],
    pub(super) pos: usize,
    mode: Mode,
    stack: Vec<Val>,
    marks: Vec<Vec<Val>>,
    held: usize,
    memo: HashMap<u64, Val>,
    pub(super) heap: Vec<Obj>,
    proto: u8,
    /// End of the current `FRAME` (joblib's pure-Python unpickler reads the
    /// whole frame ahead, so array bytes inside one come from after it).
    frame_end: usize,
    /// What sizing joblib arrays' dtypes may still cost (see `numpy`).
    dtype_budget: usize,
    pub(super) findings: Findings,
}

impl<'d> Machine<'d> {
    pub(super) fn new(data: &'d [u8], mode: Mode) -> Self {
        Machine {
            data,
            pos: 0,
            mode,
            stack: Vec::new(),
            marks: Vec::new(),
            held: 0,
            memo: HashMap::new(),
            heap: Vec::new(),
            proto: 0,
            frame_end: 0,
            dtype_budget: numpy::DTYPE_BUDGET,
            findings: Findings::default(),
        }
    }

    /// `pickle.load` makes a new unpickler, and so a new memo, every call;
    /// one `Unpickler` whose `load()` is called again keeps its memo.
    pub(super) fn clear_memo(&mut self) {
        self.memo.clear();
    }

    fn note(&mut self, at: usize, why: impl Into<String>) {
        self.findings.notes.push(unscannable(at, why));
    }

    // ---- reading the stream ------------------------------------------------

    fn take(&mut self, n: usize) -> Result<&'d [u8], Fault> {
        let data = self.data;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| halt(self.pos, "the stream is truncated"))?;
        let out = data.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn uint(&mut self, n: usize) -> Result<u64, Fault> {
        Ok(self
            .take(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn length(&mut self, n: usize, at: usize) -> Result<usize, Fault> {
        let len = self.uint(n)?;
        // CPython refuses sizes beyond `sys.maxsize`; beyond the input is EOF.
        if len > i64::MAX as u64 {
            return Err(halt(at, "a length exceeds the maximum size"));
        }
        usize::try_from(len).map_err(|_| halt(at, "the stream is truncated"))
    }

    /// A `\n`-terminated line, without the newline (`_Unpickler_Readline`
    /// refuses a line that runs into the end of the stream).
    fn line(&mut self) -> Result<&'d [u8], Fault> {
        let (line, terminated) = self.line_py();
        if terminated {
            Ok(line)
        } else {
            Err(halt(self.pos, "a line runs into the end of the stream"))
        }
    }

    /// `readline()[:-1]` as `pickle.py` does it: at the end of the stream
    /// without a newline the last byte is dropped and reading carries on.
    fn line_py(&mut self) -> (&'d [u8], bool) {
        let data = self.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\n') {
            Some(len) => {
                self.pos += len + 1;
                (rest.get(..len).unwrap_or_default(), true)
            }
            None => {
                self.pos = data.len();
                (
                    rest.get(..rest.len().saturating_sub(1)).unwrap_or_default(),
                    false,
                )
            }
        }
    }

    // ---- the stack ---------------------------------------------------------

    fn push(&mut self, value: Val) -> Result<(), Fault> {
        if self.held >= MAX_STACK {
            return Err(unscannable(self.pos, "the stack grows too large to scan"));
        }
        self.held += 1;
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Val, Fault> {
        let value = self
            .stack
            .pop()
            .ok_or_else(|| halt(at, "stack underflow"))?;
        self.held -= 1;
        Ok(value)
    }

    fn top(&self, at: usize) -> Result<Val, Fault> {
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| halt(at, "stack underflow"))
    }

    fn mark(&mut self) -> Result<(), Fault> {
        if self.marks.len() >= MAX_STACK {
            return Err(unscannable(self.pos, "too many marks to scan"));
        }
        let below = std::mem::take(&mut self.stack);
        self.marks.push(below);
        Ok(())
    }

    /// `pop_mark`: the values pushed since the last `MARK`, restoring the
    /// stack below it.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Val>, Fault> {
        let below = self
            .marks
            .pop()
            .ok_or_else(|| halt(at, "no MARK to pop to"))?;
        let items = std::mem::replace(&mut self.stack, below);
        self.held -= items.len();
        Ok(items)
    }

    fn alloc(&mut self, obj: Obj) -> Result<Val, Fault> {
        if self.heap.len() >= MAX_OBJECTS {
            return Err(unscannable(self.pos, "too many objects to scan"));
        }
        self.heap.push(obj);
        Ok(Val::Ref(self.heap.len() - 1))
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Result<(), Fault> {
        let value = self.top(at)?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(unscannable(at, "the memo grows too large to scan"));
        }
        self.memo.insert(key, value);
        Ok(())
    }

    fn memo_get(&mut self, key: Option<u64>, at: usize) -> Result<(), Fault> {
        let value = key
            .and_then(|key| self.memo.get(&key).cloned())
            .ok_or_else(|| halt(at, "memo value not found"))?;
        self.push(value)
    }

    // ---- globals -------------------------------------------------------------

    /// `find_class(module, name)`: recorded under the name the loader
    /// resolves.
    fn import(&mut self, module: &str, name: &str) -> Val {
        self.findings.imported = true;
        let (module, name) = allow::resolve(self.proto, module, name);
        let global = Global {
            module: module.to_owned(),
            name: name.to_owned(),
            allowed: allow::is_allowed(module, name),
        };
        if self
            .findings
            .seen
            .insert((global.module.clone(), global.name.clone()))
        {
            self.findings.imports.push(global.clone());
        }
        Val::Global(Rc::new(global))
    }

    /// `GLOBAL` and `INST`: module and name on two lines.
    fn named_import(&mut self, at: usize, ascii: bool) -> Result<Val, Fault> {
        let (module, module_ends) = self.line_py();
        let (name, name_ends) = if module_ends {
            self.line_py()
        } else {
            (&[][..], false)
        };
        let decode = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .ok()
                .filter(|text| !ascii || text.is_ascii())
                .map(str::to_owned)
        };
        let (Some(module), Some(name)) = (decode(module), decode(name)) else {
            return Err(halt(at, "a global's name is not valid text"));
        };
        if module.is_empty() {
            return Err(halt(at, "a global with an empty module name"));
        }
        // pickle.py imports the module even when the name line was cut short
        // by the end of the stream, so record first and stop after.
        let global = self.import(&module, &name);
        if !(module_ends && name_ends) {
            return Err(halt(self.pos, "a line runs into the end of the stream"));
        }
        if name.is_empty() {
            return Err(halt(at, "a global with an empty name"));
        }
        Ok(global)
    }

    // ---- calls -------------------------------------------------------------

    /// What calling or instantiating `callee` gives.
    fn call(&mut self, at: usize, callee: Val, args: Val, how: Call) -> Result<Val, Fault> {
        match callee {
            Val::Global(global) => self.instance_from(at, global, args, how),
            Val::None | Val::Bool(_) | Val::Int(_) | Val::Str(..) | Val::Data | Val::Tuple(_) => {
                Err(halt(at, "calls a value that is not callable"))
            }
            Val::Ref(index) => match self.heap.get(index) {
                Some(Obj::Instance(inst)) if inst.class.as_ref().is_some_and(|c| c.allowed) => {
                    // Nothing on the allow-list returns a callable object.
                    Err(halt(at, "calls a value that is not callable"))
                }
                Some(Obj::Instance(_)) => {
                    self.note(at, "calls an object whose class the scanner cannot see");
                    Ok(Val::Opaque)
                }
                _ => Err(halt(at, "calls a value that is not callable")),
            },
            Val::Opaque => {
                self.note(at, "calls a value built at run time");
                Ok(Val::Opaque)
            }
        }
    }

    fn instance_from(
        &mut self,
        at: usize,
        global: Rc<Global>,
        args: Val,
        how: Call,
    ) -> Result<Val, Fault> {
        let plain_call = how == Call::Call;
        let instance = if plain_call && global.is(allow::RECONSTRUCTOR) {
            // copyreg._reconstructor(cls, base, state): `base.__new__(cls,
            // state)`, then `base.__init__` unless base is `object`.
            let parts = match &args {
                Val::Tuple(seq) => seq.complete().map(<[Val]>::to_vec),
                _ => None,
            };
            match parts.as_deref() {
                Some([Val::Global(cls), base, state]) => {
                    let fresh = matches!(base, Val::Global(b) if b.is(allow::OBJECT))
                        && matches!(state, Val::None);
                    Instance {
                        class: Some(cls.clone()),
                        attrs: fresh.then(Vec::new),
                        args: Some(args),
                        kwargs: false,
                        state: None,
                    }
                }
                _ => {
                    self.note(
                        at,
                        "copyreg._reconstructor builds an object of a class the scanner cannot see",
                    );
                    unknown_instance()
                }
            }
        } else if plain_call && global.is(allow::REBUILD_FROM_TYPE) {
            // _rebuild_from_type_v2(func, new_type, args, state) calls `func`.
            let func_is_global = matches!(&args, Val::Tuple(seq)
                if matches!(seq.items.first(), Some(Val::Global(_))));
            if !func_is_global {
                self.note(
                    at,
                    "torch's _rebuild_from_type_v2 calls a value built at run time",
                );
            }
            unknown_instance()
        } else {
            let fresh = !plain_call;
            Instance {
                class: Some(global),
                attrs: fresh.then(Vec::new),
                args: Some(args),
                kwargs: matches!(how, Call::New { kwargs: true }),
                state: None,
            }
        };
        self.alloc(Obj::Instance(instance))
    }

    /// `OBJ`/`INST`: `_instantiate(klass, args)`.
    fn instantiate(&mut self, at: usize, class: Val, args: Vec<Val>) -> Result<(), Fault> {
        let how = if args.is_empty() {
            Call::New { kwargs: false }
        } else {
            Call::Call
        };
        let args = Val::Tuple(Rc::new(Seq::from_vec(args)));
        let how = match (&class, how) {
            // A class without arguments gets `cls.__new__(cls)`; anything
            // else is called.
            (Val::Global(_), how) => how,
            _ => Call::Call,
        };
        let value = self.call(at, class, args, how)?;
        self.push(value)
    }

    // ---- mutation --------------------------------------------------------------

    /// The arena slot a mutating opcode writes to, noting writes to imported
    /// objects (class attributes, module state), which data never needs.
    fn target(&mut self, at: usize, what: &str) -> Result<Option<usize>, Fault> {
        match self.top(at)? {
            Val::Global(global) => {
                self.note(at, format!("{what} modifies the imported object {global}"));
                Ok(None)
            }
            Val::Ref(index) => Ok(Some(index)),
            _ => Ok(None),
        }
    }

    fn append(&mut self, at: usize, items: Vec<Val>, what: &str) -> Result<(), Fault> {
        let target = self.target(at, what)?;
        if let Some(Obj::List(seq)) = target.and_then(|index| self.heap.get_mut(index)) {
            for item in items {
                seq.push(item);
            }
        }
        Ok(())
    }

    fn set_items(&mut self, at: usize, items: Vec<Val>, what: &str) -> Result<(), Fault> {
        let odd = items.len() % 2 == 1;
        let target = self.target(at, what)?;
        if let Some(Obj::Dict(dict)) = target.and_then(|index| self.heap.get_mut(index)) {
            let mut items = items.into_iter();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                dict.set(key, value);
            }
        }
        if odd {
            return Err(halt(at, "odd number of items for SETITEMS"));
        }
        Ok(())
    }

    /// `BUILD`: `inst.__setstate__(state)`, or `inst.__dict__.update(state)`
    /// plus `setattr` for a `(state, slotstate)` pair.
    fn build(&mut self, at: usize, state: Val) -> Result<(), Fault> {
        match self.top(at)? {
            Val::Global(global) => {
                self.note(at, format!("BUILD modifies the imported object {global}"));
            }
            Val::Ref(index) => {
                let update = self.state_items(&state);
                let Some(Obj::Instance(inst)) = self.heap.get_mut(index) else {
                    return Ok(());
                };
                let wrapper = inst.is(allow::ARRAY_WRAPPER);
                let unknown_class = inst.class.is_none();
                if wrapper {
                    // NumpyArrayWrapper has no __setstate__.
                    match (inst.attrs.as_mut(), update) {
                        (Some(attrs), Some(update)) => {
                            for (key, value) in update {
                                match attrs.iter_mut().find(|(k, _)| *k == key) {
                                    Some(slot) => slot.1 = value,
                                    None => attrs.push((key, value)),
                                }
                            }
                            if attrs.len() > TRACKED {
                                inst.attrs = None;
                            }
                        }
                        _ => inst.attrs = None,
                    }
                } else {
                    inst.state = Some(state);
                }
                if self.mode == Mode::Joblib {
                    if wrapper {
                        return self.read_array(at);
                    }
                    if unknown_class {
                        self.note(
                            at,
                            "BUILD on an object whose class the scanner cannot see (joblib would read array bytes here if it is an array wrapper)",
                        );
                    }
                }
            }
            Val::Opaque if self.mode == Mode::Joblib => {
                self.note(
                    at,
                    "BUILD on a value the scanner cannot see (joblib would read array bytes here if it is an array wrapper)",
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// The attribute updates a `BUILD` state makes, if the model can see them.
    fn state_items(&self, state: &Val) -> Option<Vec<(Rc<str>, Val)>> {
        let part = |value: &Val| -> Option<Vec<(Rc<str>, Val)>> {
            match value {
                Val::None => Some(Vec::new()),
                Val::Ref(index) => match self.heap.get(*index) {
                    Some(Obj::Dict(dict)) if dict.certain => Some(
                        dict.items
                            .iter()
                            .filter_map(|(k, v)| match k {
                                Val::Str(key, true) => Some((key.clone(), v.clone())),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => None,
                },
                _ => None,
            }
        };
        match state {
            Val::Tuple(seq) if seq.len == 2 => {
                let [dict, slots] = seq.complete()? else {
                    return None;
                };
                let mut items = part(dict)?;
                items.extend(part(slots)?);
                Some(items)
            }
            other => part(other),
        }
    }

    /// joblib's `NumpyUnpickler.load_build` after `BUILD` of a
    /// `NumpyArrayWrapper`: pop it, read the array from the file, push the
    /// array (joblib `numpy_pickle.py`, `NumpyArrayWrapper.read_array`).
    fn read_array(&mut self, at: usize) -> Result<(), Fault> {
        let start = self.pos;
        self.findings.divergence.get_or_insert(start);
        if self.frame_end > start {
            return Err(unscannable(
                at,
                "a joblib array wrapper inside a pickle frame (joblib reads the array from after the frame)",
            ));
        }
        let wrapper = self.pop(at)?;
        let read = numpy::array_read(&self.heap, &wrapper, &mut self.dtype_budget)
            .map_err(|why| unscannable(at, why))?;
        match read {
            numpy::ArrayRead::Pickled => self.nested_load()?,
            numpy::ArrayRead::Raw { padded, bytes } => {
                if padded {
                    let padding = self.byte()?;
                    self.take(usize::from(padding))?;
                }
                let bytes = usize::try_from(bytes)
                    .map_err(|_| halt(self.pos, "the stream is truncated"))?;
                self.take(bytes)?;
            }
        }
        self.push(Val::Data)
    }

    /// `pickle.load(file)` in the middle of joblib's stream (arrays of
    /// Python objects): a fresh C unpickler over the same file.
    fn nested_load(&mut self) -> Result<(), Fault> {
        let stack = std::mem::take(&mut self.stack);
        let marks = std::mem::take(&mut self.marks);
        let memo = std::mem::take(&mut self.memo);
        let (held, proto, frame_end, mode) = (self.held, self.proto, self.frame_end, self.mode);
        self.held = 0;
        self.mode = Mode::Pickle;
        let result = self.load_one();
        self.stack = stack;
        self.marks = marks;
        self.memo = memo;
        (self.held, self.proto, self.frame_end, self.mode) = (held, proto, frame_end, mode);
        result
    }

    // ---- the opcode loop ---------------------------------------------------------

    /// One `load()`: opcodes up to and including `STOP`.
    pub(super) fn load_one(&mut self) -> Result<(), Fault> {
        self.stack.clear();
        self.marks.clear();
        self.held = 0;
        self.proto = 0;
        self.frame_end = self.pos;
        loop {
            let at = self.pos;
            let op = self
                .byte()
                .map_err(|_| halt(at, "the stream ends before STOP"))?;
            if op == b'.' {
                self.pop(at)?;
                return Ok(());
            }
            self.step(at, op)?;
        }
    }

    fn step(&mut self, at: usize, op: u8) -> Result<(), Fault> {
        match op {
            b'(' => self.mark()?,
            b'0' => {
                // POP: the top value, or the mark when the stack above it is empty.
                if self.stack.is_empty() {
                    self.pop_mark(at)?;
                } else {
                    self.pop(at)?;
                }
            }
            b'1' => {
                self.pop_mark(at)?;
            }
            b'2' => {
                let top = self.top(at)?;
                self.push(top)?;
            }
            // Constants and numbers.
            b'N' => self.push(Val::None)?,
            0x88 => self.push(Val::Bool(true))?,
            0x89 => self.push(Val::Bool(false))?,
            b'I' => {
                let line = self.line()?;
                let value = match line {
                    b"00" => Val::Bool(false),
                    b"01" => Val::Bool(true),
                    _ => Val::Int(parse_decimal(line)),
                };
                self.push(value)?;
            }
            b'L' => {
                let line = self.line()?;
                let line = line.strip_suffix(b"L").unwrap_or(line);
                self.push(Val::Int(parse_decimal(line)))?;
            }
            b'F' => {
                self.line()?;
                self.push(Val::Data)?;
            }
            b'J' => {
                let raw = self.uint(4)?;
                self.push(Val::Int(Some(i64::from(raw as u32 as i32))))?;
            }
            b'K' => {
                let raw = self.uint(1)?;
                self.push(Val::Int(Some(raw as i64)))?;
            }
            b'M' => {
                let raw = self.uint(2)?;
                self.push(Val::Int(Some(raw as i64)))?;
            }
            b'G' => {
                self.take(8)?;
                self.push(Val::Data)?;
            }
            0x8a => {
                let n = usize::from(self.byte()?);
                let bytes = self.take(n)?;
                self.push(Val::Int(le_signed(bytes)))?;
            }
            0x8b => {
                let n = self.uint(4)? as u32 as i32;
                let n = usize::try_from(n)
                    .map_err(|_| halt(at, "LONG pickle has negative byte count"))?;
                let bytes = self.take(n)?;
                self.push(Val::Int(le_signed(bytes)))?;
            }
            // Text.
            0x8c => {
                let n = usize::from(self.byte()?);
                let bytes = self.take(n)?;
                self.push(utf8(bytes))?;
            }
            b'X' => {
                let n = self.length(4, at)?;
                let bytes = self.take(n)?;
                self.push(utf8(bytes))?;
            }
            0x8d => {
                let n = self.length(8, at)?;
                let bytes = self.take(n)?;
                self.push(utf8(bytes))?;
            }
            b'V' => {
                let line = self.line()?;
                let value = raw_unicode_escape(line)
                    .ok_or_else(|| halt(at, "bad raw-unicode-escape in UNICODE"))?;
                self.push(value)?;
            }
            b'S' => {
                let line = self.line()?;
                let inner = match line {
                    [q, inner @ .., last] if q == last && matches!(q, b'\'' | b'"') => inner,
                    _ => return Err(halt(at, "the STRING opcode argument must be quoted")),
                };
                let bytes = escape_decode(inner).ok_or_else(|| halt(at, "bad escape in STRING"))?;
                self.push(py2_str(&bytes))?;
            }
            b'T' => {
                // C reads the length unsigned; pickle.py refuses negatives.
                let n = self.length(4, at)?;
                let bytes = self.take(n)?;
                self.push(py2_str(bytes))?;
            }
            b'U' => {
                let n = usize::from(self.byte()?);
                let bytes = self.take(n)?;
                self.push(py2_str(bytes))?;
            }
            // Bytes and buffers.
            b'B' => {
                let n = self.length(4, at)?;
                self.take(n)?;
                self.push(Val::Data)?;
            }
            b'C' => {
                let n = usize::from(self.byte()?);
                self.take(n)?;
                self.push(Val::Data)?;
            }
            0x8e | 0x96 => {
                let n = self.length(8, at)?;
                self.take(n)?;
                self.push(Val::Data)?;
            }
            0x97 => {
                // NEXT_BUFFER: out-of-band data given by the caller, or an error.
                if self.mode == Mode::Joblib {
                    return Err(halt(at, "NEXT_BUFFER without buffers"));
                }
                self.push(Val::Data)?;
            }
            0x98 => {
                self.top(at)?;
            }
            // Containers.
            b')' => self.push(Val::Tuple(Rc::default()))?,
            b']' => {
                let list = self.alloc(Obj::List(Seq::default()))?;
                self.push(list)?;
            }
            b'}' => {
                let dict = self.alloc(Obj::Dict(Dict {
                    items: Vec::new(),
                    certain: true,
                }))?;
                self.push(dict)?;
            }
            0x8f => {
                let set = self.alloc(Obj::Set)?;
                self.push(set)?;
            }
            b't' => {
                let items = self.pop_mark(at)?;
                self.push(Val::Tuple(Rc::new(Seq::from_vec(items))))?;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n {
                    return Err(halt(at, "stack underflow"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.held -= n;
                self.push(Val::Tuple(Rc::new(Seq::from_vec(items))))?;
            }
            b'l' => {
                let items = self.pop_mark(at)?;
                let list = self.alloc(Obj::List(Seq::from_vec(items)))?;
                self.push(list)?;
            }
            b'd' => {
                let items = self.pop_mark(at)?;
                if items.len() % 2 == 1 {
                    return Err(halt(at, "odd number of items for DICT"));
                }
                let mut dict = Dict {
                    items: Vec::new(),
                    certain: true,
                };
                let mut items = items.into_iter();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    dict.set(key, value);
                }
                let dict = self.alloc(Obj::Dict(dict))?;
                self.push(dict)?;
            }
            0x91 => {
                self.pop_mark(at)?;
                self.push(Val::Data)?;
            }
            b'a' => {
                let value = self.pop(at)?;
                self.append(at, vec![value], "APPEND")?;
            }
            b'e' => {
                let items = self.pop_mark(at)?;
                self.append(at, items, "APPENDS")?;
            }
            b's' => {
                let value = self.pop(at)?;
                let key = self.pop(at)?;
                self.set_items(at, vec![key, value], "SETITEM")?;
            }
            b'u' => {
                let items = self.pop_mark(at)?;
                self.set_items(at, items, "SETITEMS")?;
            }
            0x90 => {
                self.pop_mark(at)?;
                self.target(at, "ADDITEMS")?;
            }
            // Memo.
            b'p' => {
                let line = self.line()?;
                let key = memo_key(line).ok_or_else(|| halt(at, "bad PUT argument"))?;
                self.memo_put(key, at)?;
            }
            b'q' => {
                let key = self.uint(1)?;
                self.memo_put(key, at)?;
            }
            b'r' => {
                let key = self.uint(4)?;
                self.memo_put(key, at)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key, at)?;
            }
            b'g' => {
                let line = self.line()?;
                self.memo_get(memo_key(line), at)?;
            }
            b'h' => {
                let key = self.uint(1)?;
                self.memo_get(Some(key), at)?;
            }
            b'j' => {
                let key = self.uint(4)?;
                self.memo_get(Some(key), at)?;
            }
            // Imports.
            b'c' => {
                let global = self.named_import(at, false)?;
                self.push(global)?;
            }
            0x93 => self.stack_global(at)?,
            b'i' => {
                let class = self.named_import(at, true)?;
                let args = self.pop_mark(at)?;
                self.instantiate(at, class, args)?;
            }
            0x82..=0x84 => {
                let width = [1, 2, 4][usize::from(op - 0x82)];
                let raw = self.uint(width)?;
                let code = if width == 4 {
                    i64::from(raw as u32 as i32)
                } else {
                    raw as i64
                };
                if code <= 0 {
                    return Err(halt(at, "EXT specifies code <= 0"));
                }
                self.findings.imported = true;
                self.note(
                    at,
                    format!("imports extension code {code} through copyreg's registry, which depends on the loader"),
                );
                self.push(Val::Opaque)?;
            }
            // Calls.
            b'R' => {
                let args = self.pop(at)?;
                let callee = self.pop(at)?;
                let value = self.call(at, callee, args, Call::Call)?;
                self.push(value)?;
            }
            0x81 => {
                let args = self.pop(at)?;
                let class = self.pop(at)?;
                let value = self.new_object(at, class, args, false)?;
                self.push(value)?;
            }
            0x92 => {
                self.pop(at)?;
                let args = self.pop(at)?;
                let class = self.pop(at)?;
                let value = self.new_object(at, class, args, true)?;
                self.push(value)?;
            }
            b'o' => {
                let mut items = self.pop_mark(at)?;
                if items.is_empty() {
                    return Err(halt(at, "stack underflow"));
                }
                let class = items.remove(0);
                self.instantiate(at, class, items)?;
            }
            b'b' => {
                let state = self.pop(at)?;
                self.build(at, state)?;
            }
            // Loader hooks and protocol framing.
            b'P' => {
                self.line()?;
                self.persistent(at)?;
            }
            b'Q' => {
                self.pop(at)?;
                self.persistent(at)?;
            }
            0x80 => {
                let proto = self.byte()?;
                if proto > 5 {
                    return Err(halt(at, format!("unsupported pickle protocol: {proto}")));
                }
                self.proto = proto;
                self.findings.protocol.get_or_insert(proto);
            }
            0x95 => {
                let len = self.length(8, at)?;
                self.frame_end = self.pos.saturating_add(len);
            }
            other => {
                return Err(halt(at, format!("unknown opcode 0x{other:02x}")));
            }
        }
        Ok(())
    }

    /// `NEWOBJ`/`NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`; the C
    /// unpickler requires a class.
    fn new_object(&mut self, at: usize, class: Val, args: Val, kwargs: bool) -> Result<Val, Fault> {
        match class {
            Val::Global(_) => self.call(at, class, args, Call::New { kwargs }),
            Val::Opaque => {
                self.note(at, "NEWOBJ of a class built at run time");
                Ok(Val::Opaque)
            }
            Val::Ref(index) if matches!(self.heap.get(index), Some(Obj::Instance(inst)) if inst.class.is_none()) =>
            {
                self.note(at, "NEWOBJ of a class built at run time");
                Ok(Val::Opaque)
            }
            _ => Err(halt(at, "NEWOBJ class argument isn't a type object")),
        }
    }

    /// `PERSID`/`BINPERSID`: whatever the loader's `persistent_load` returns
    /// (PyTorch's gives storages; plain `pickle.load` and joblib raise).
    fn persistent(&mut self, at: usize) -> Result<(), Fault> {
        if self.mode == Mode::Joblib {
            return Err(halt(at, "persistent id without persistent_load"));
        }
        self.push(Val::Opaque)
    }

    fn stack_global(&mut self, at: usize) -> Result<(), Fault> {
        let name = self.pop(at)?;
        let module = self.pop(at)?;
        self.findings.imported = true;
        match (&module, &name) {
            (Val::Str(module, true), Val::Str(name, true)) => {
                if module.is_empty() {
                    return Err(halt(at, "a global with an empty module name"));
                }
                let (module, name) = (module.clone(), name.clone());
                let global = self.import(&module, &name);
                self.push(global)
            }
            _ if certainly_not_str(&module) || certainly_not_str(&name) => {
                Err(halt(at, "STACK_GLOBAL requires str"))
            }
            _ => {
                let shown = |v: &Val| match v {
                    Val::Str(text, _) => format!("{text:?}"),
                    _ => "?".to_owned(),
                };
                self.note(
                    at,
                    format!(
                        "STACK_GLOBAL imports a name the scanner cannot see ({}.{})",
                        shown(&module),
                        shown(&name)
                    ),
                );
                self.push(Val::Opaque)
            }
        }
    }
}

fn unknown_instance() -> Instance {
    Instance {
        class: None,
        attrs: None,
        args: None,
        kwargs: false,
        state: None,
    }
}

/// Values that cannot be a `str` for `STACK_GLOBAL`. An imported global can
/// be a string (`os.sep`), but none on the allow-list is.
fn certainly_not_str(value: &Val) -> bool {
    match value {
        Val::None | Val::Bool(_) | Val::Int(_) | Val::Data | Val::Tuple(_) => true,
        Val::Global(global) => global.allowed,
        _ => false,
    }
}

// ---- text and numbers ----------------------------------------------------------

/// `str(data, 'utf-8', 'surrogatepass')`: exact when valid UTF-8.
fn utf8(bytes: &[u8]) -> Val {
    match std::str::from_utf8(bytes) {
        Ok(text) => Val::Str(text.into(), true),
        Err(_) => Val::Str(String::from_utf8_lossy(bytes).into(), false),
    }
}

/// Python 2 `str` (`STRING`, `BINSTRING`, `SHORT_BINSTRING`): decoded with the
/// loader's `encoding` (ASCII by default, latin-1 or bytes on request), so the
/// text is the same for every loader only if it is ASCII.
fn py2_str(bytes: &[u8]) -> Val {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    Val::Str(text.into(), bytes.is_ascii())
}

/// `codecs.escape_decode` (CPython `_PyBytes_DecodeEscape`); `None` where
/// CPython raises.
fn escape_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let escape = *input.get(i)?;
        i += 1;
        match escape {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                for _ in 0..2 {
                    match input.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = (value << 3) + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => {
                let hi = hex_digit(*input.get(i)?)?;
                let lo = hex_digit(*input.get(i + 1)?)?;
                out.push((hi << 4) | lo);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// `str(data, 'raw-unicode-escape')`: latin-1, except that `\uXXXX` and
/// `\UXXXXXXXX` after an odd number of backslashes are escapes. `None` where
/// CPython raises.
fn raw_unicode_escape(input: &[u8]) -> Option<Val> {
    let mut out = String::with_capacity(input.len());
    let mut exact = true;
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let run = input
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == b'\\')
            .count();
        i += run;
        let digits = match input.get(i) {
            Some(b'u') if run % 2 == 1 => 4,
            Some(b'U') if run % 2 == 1 => 8,
            _ => {
                out.extend(std::iter::repeat_n('\\', run));
                continue;
            }
        };
        out.extend(std::iter::repeat_n('\\', run - 1));
        i += 1;
        let hex = input.get(i..i + digits)?;
        let mut code = 0u32;
        for &h in hex {
            code = (code << 4) | u32::from(hex_digit(h)?);
        }
        i += digits;
        if code > 0x10_ffff {
            return None;
        }
        match char::from_u32(code) {
            Some(ch) => out.push(ch),
            None => {
                // A lone surrogate: a valid Python str, not a Rust one.
                exact = false;
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    Some(Val::Str(out.into(), exact))
}

/// A plain decimal (with optional sign), for values that may matter (array
/// shapes); anything else is "some integer".
fn parse_decimal(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// Two's-complement little-endian (`LONG1`, `LONG4`), if it fits an `i64`.
fn le_signed(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() {
        return Some(0);
    }
    if bytes.len() > 8 {
        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let fill = if negative { 0xff } else { 0 };
        let (low, high) = bytes.split_at(8);
        let fits = high.iter().all(|&b| b == fill)
            && (low.last().copied().unwrap_or_default() & 0x80 != 0) == negative;
        return if fits { le_signed(low) } else { None };
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = if negative { [0xff; 8] } else { [0; 8] };
    buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(i64::from_le_bytes(buf))
}

/// A memo index as the C unpickler reads it (`PyLong_FromString(s, NULL,
/// 10)` on the NUL-terminated line, then `PyLong_AsSsize_t`): surrounding
/// whitespace, a sign, digits with single underscores between them. `None`
/// where CPython raises (negative, too large, malformed).
fn memo_key(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let text = line.get(..end)?;
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = text.iter().position(|b| !is_space(b))?;
    let stop = text.iter().rposition(|b| !is_space(b))? + 1;
    let mut digits = text.get(start..stop)?;
    let negative = match digits.first() {
        Some(b'-') => true,
        Some(b'+') => false,
        _ => {
            return parse_underscored(digits);
        }
    };
    digits = digits.get(1..)?;
    let value = parse_underscored(digits)?;
    if negative && value != 0 {
        return None;
    }
    Some(value)
}

fn parse_underscored(digits: &[u8]) -> Option<u64> {
    if !digits.first()?.is_ascii_digit() || !digits.last()?.is_ascii_digit() {
        return None;
    }
    let mut value: u64 = 0;
    let mut previous_underscore = false;
    for &b in digits {
        if b == b'_' {
            if previous_underscore {
                return None;
            }
            previous_underscore = true;
            continue;
        }
        previous_underscore = false;
        let digit = char::from(b).to_digit(10)?;
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    (value <= i64::MAX as u64).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<Val>) -> Option<(String, bool)> {
        match value? {
            Val::Str(text, exact) => Some((text.to_string(), exact)),
            _ => None,
        }
    }

    #[test]
    fn escapes_decode_as_cpython_does() {
        assert_eq!(
            escape_decode(br"\x6fs\q\1234").as_deref(),
            Some(&b"os\\qS4"[..])
        );
        assert_eq!(escape_decode(br"ab\"), None);
        assert_eq!(escape_decode(br"\x6"), None);
        assert_eq!(
            text(raw_unicode_escape(br"a\\u0041\u0042\x")),
            Some((r"a\\u0041B\x".to_owned(), true))
        );
        assert!(raw_unicode_escape(br"\u12").is_none());
        assert_eq!(
            text(raw_unicode_escape(br"\ud800")).map(|t| t.1),
            Some(false)
        );
    }

    #[test]
    fn memo_keys_follow_the_c_parser() {
        assert_eq!(memo_key(b"12"), Some(12));
        assert_eq!(memo_key(b" 1_0 "), Some(10));
        assert_eq!(memo_key(b"+007"), Some(7));
        assert_eq!(memo_key(b"1\0zz"), Some(1));
        assert_eq!(memo_key(b"-0"), Some(0));
        assert_eq!(memo_key(b"-1"), None);
        assert_eq!(memo_key(b"1__0"), None);
        assert_eq!(memo_key(b"_1"), None);
        assert_eq!(memo_key(b""), None);
        assert_eq!(memo_key(b"99999999999999999999"), None);
    }

    #[test]
    fn long_integers() {
        assert_eq!(le_signed(&[]), Some(0));
        assert_eq!(le_signed(&[0xff]), Some(-1));
        assert_eq!(le_signed(&[0x00, 0x01]), Some(256));
        assert_eq!(
            le_signed(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]),
            Some(i64::MAX)
        );
        assert_eq!(le_signed(&[0; 9]), Some(0));
        assert_eq!(le_signed(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), None);
    }

    #[test]
    fn every_protocol_opcode_is_known() {
        let count = (0..=255u8).filter(|&b| is_opcode(b)).count();
        // pickletools.opcodes lists 68 opcodes for protocols 0-5.
        assert_eq!(count, 68);
    }
}
