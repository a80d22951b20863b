#!/usr/bin/env python3
"""Writes a corpus of pickle streams and what CPython's unpickler does with them.

Usage: pickle_corpus.py OUTDIR

Every corpus file is loaded by CPython's real unpicklers with recording
stand-ins: `find_class` records the (module, name) it is asked for and hands
back a harmless stub instead of importing anything. Each file is read the
ways loaders read it:

- `c_fresh`:  `pickle.load(f)` (C unpickler) called until the end or an error,
- `c_kept`:   one C `pickle.Unpickler(f)` whose `load()` is called again,
- `py_fresh`, `py_kept`: the same with the pure-Python `pickle._Unpickler`,
- `joblib`:   `pickle._Unpickler` with joblib's `NumpyUnpickler.load_build`
              (array bytes after a `NumpyArrayWrapper` are read from the file,
              object arrays by a nested `pickle.load`),
- zip archives: the same for every member `zipfile` lists, plus the whole file.

`verdicts.json` lists, per file, every global asked for — raw and as
`find_class` resolves it (Python 2 names mapped for protocols < 3) — and
whether each reading loaded fully. This script does not decide safety: the
Rust side (`crates/outpost-core/tests/pickle_differential.rs`) checks the
names against Outpost's allow-list. `benign` marks entries built from
allow-listed globals only, which Outpost must accept.

Nothing here imports a module a pickle names: the generator fakes the
modules it needs (`sklearn`, `numpy`, `torch`, `joblib`) in this process only.
"""

import _compat_pickle
import collections
import copyreg
import datetime
import io
import json
import os
import pickle
import pickletools
import struct
import sys
import types
import zipfile

# ---------------------------------------------------------------------------
# Fake modules, so the real pickler can name allow-listed globals.


def fake_module(dotted):
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
    return sys.modules[dotted]


def fake_class(module, name, base=object, namespace=None):
    cls = type(name, (base,), dict(namespace or {}))
    cls.__module__ = module
    cls.__qualname__ = name
    setattr(fake_module(module), name, cls)
    return cls


def fake_function(module, name):
    def function(*args, **kwargs):
        raise RuntimeError("fake")

    function.__module__ = module
    function.__qualname__ = name
    function.__name__ = name
    setattr(fake_module(module), name, function)
    return function


reconstruct = fake_function("numpy.core.multiarray", "_reconstruct")
ndarray = fake_class("numpy", "ndarray")
scalar = fake_function("numpy.core.multiarray", "scalar")


class _Dtype:
    def __init__(self, typestr, flags=0, elsize=-1, fields=None, names=None, version=3):
        self.typestr, self.flags, self.elsize = typestr, flags, elsize
        self.fields, self.names, self.version = fields, names, version

    def __reduce__(self):
        state = (self.version, "<", None, self.names, self.fields, self.elsize, -1, self.flags)
        return (dtype, (self.typestr, False, True), state)

    def itemsize(self):
        kind, size = self.typestr[0], int(self.typestr[1:])
        return self.elsize if kind in "SUV" else size


dtype = fake_class("numpy", "dtype", namespace={"__setstate__": lambda self, s: None})


class Array:
    """Pickles like a numpy array: _reconstruct + BUILD (state with raw bytes)."""

    def __init__(self, dt, shape, raw):
        self.dt, self.shape, self.raw = dt, shape, raw

    def __reduce__(self):
        return (reconstruct, (ndarray, (0,), b"b"), (1, self.shape, self.dt, False, self.raw))


def f8(*values):
    return Array(_Dtype("f8"), (len(values),), struct.pack(f"<{len(values)}d", *values))


def sk(module, name):
    return fake_class(module, name)


Tree = fake_class(
    "sklearn.tree._tree",
    "Tree",
    namespace={
        "__init__": lambda self, *a: None,
        "__reduce__": lambda self: (Tree, (4, Array(_Dtype("i8"), (1,), b"\x01" + b"\0" * 7), 1), self.state),
        "__setstate__": lambda self, s: None,
    },
)
ExtraTreeRegressor = sk("sklearn.tree._classes", "ExtraTreeRegressor")
DecisionTreeClassifier = sk("sklearn.tree._classes", "DecisionTreeClassifier")
IsolationForest = sk("sklearn.ensemble._iforest", "IsolationForest")
RandomForestClassifier = sk("sklearn.ensemble._forest", "RandomForestClassifier")
GradientBoostingRegressor = sk("sklearn.ensemble._gb", "GradientBoostingRegressor")
DummyRegressor = sk("sklearn.dummy", "DummyRegressor")
NumpyArrayWrapper = fake_class("joblib.numpy_pickle", "NumpyArrayWrapper")
rebuild_tensor = fake_function("torch._utils", "_rebuild_tensor_v2")
FloatStorage = fake_class("torch", "FloatStorage")
Evil = fake_class("evil.module", "Thing")


def tree(n):
    t = Tree.__new__(Tree)
    nodes_dtype = _Dtype(
        "V16",
        elsize=16,
        names=("left", "value"),
        fields={"left": (_Dtype("i8"), 0), "value": (_Dtype("f8"), 8)},
    )
    t.state = {
        "max_depth": 1,
        "node_count": n,
        "nodes": Array(nodes_dtype, (n,), b"\0" * 16 * n),
        "values": f8(*range(n)),
    }
    return t


def estimator(cls, **attrs):
    obj = cls.__new__(cls)
    obj.__dict__.update(attrs)
    return obj


def isolation_forest():
    trees = [estimator(ExtraTreeRegressor, tree_=tree(3), max_depth=2) for _ in range(2)]
    return estimator(
        IsolationForest,
        estimators_=trees,
        estimator_=trees[0],
        offset_=-0.5,
        max_samples_=64,
        _sklearn_version="1.5.0",
    )


def gradient_boosting():
    return estimator(
        GradientBoostingRegressor,
        init_=estimator(DummyRegressor, strategy="mean"),
        estimators_=[[estimator(DecisionTreeClassifier, tree_=tree(2))]],
        train_score_=f8(0.5, 0.25),
    )


# ---------------------------------------------------------------------------
# Recording unpicklers.


def resolve(proto, module, name):
    """What `find_class` imports (CPython `pickle.py`, `_compat_pickle`)."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return (_compat_pickle.IMPORT_MAPPING[module], name)
    return (module, name)


class Stub:
    """Stands for any imported object: callable, instantiable, buildable."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self._args = args

    def __call__(self, *args, **kwargs):
        return Stub()

    def __setstate__(self, state):
        self._state = state

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def add(self, item):
        pass

    def __setitem__(self, key, value):
        pass


class WrapperStub:
    """Stands for joblib's NumpyArrayWrapper: no __setstate__, so BUILD
    updates `__dict__` as for the real class."""

    def __init__(self, *args, **kwargs):
        names = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
        self.__dict__.update(dict(zip(names, args)))
        self.__dict__.setdefault("numpy_array_alignment_bytes", 16)
        self.__dict__.update(kwargs)


def stub_for(resolved):
    if resolved == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
        return type("NumpyArrayWrapper", (WrapperStub,), {})
    return type("Stub_" + resolved[1].replace(".", "_"), (Stub,), {"_outpost_global": resolved})


def proto_at(data, start, pos):
    """The protocol in force at `pos` for a load() that began at `start`
    (the C unpickler does not expose it), and whether that is certain."""
    proto = 0
    try:
        for op, arg, at in pickletools.genops(data[start:]):
            if start + at >= pos:
                return proto, True
            if op.name == "PROTO":
                proto = arg
    except Exception:
        return proto, False
    return proto, True


class Log:
    def __init__(self):
        self.calls = []

    def record(self, module, name, protos):
        entry = {"module": module, "name": name, "resolved": sorted({resolve(p, module, name) for p in protos})}
        self.calls.append(entry)


class CRecorder(pickle.Unpickler):
    def __init__(self, f, data, log):
        super().__init__(f)
        self._f, self._data, self._log = f, data, log
        self._start = f.tell()

    def find_class(self, module, name):
        proto, certain = proto_at(self._data, self._start, self._f.tell())
        self._log.record(module, name, [proto] if certain else [0, 4])
        return stub_for(resolve(proto, module, name))

    def persistent_load(self, pid):
        return Stub()


class PyRecorder(pickle._Unpickler):
    def __init__(self, f, data, log):
        super().__init__(f)
        self._f, self._data, self._log = f, data, log

    def find_class(self, module, name):
        self._log.record(module, name, [self.proto])
        return stub_for(resolve(self.proto, module, name))

    def persistent_load(self, pid):
        return Stub()


def dtype_info(dt):
    """numpy `arraydescr_setstate`: item size, and the object flag taken
    from the state for versions >= 3."""
    typestr = dt._args[0].lstrip("<>=|")
    kind, size = typestr[0], int(typestr[1:])
    state = getattr(dt, "_state", None)
    if state is None:
        return size, kind == "O"
    itemsize = state[5] if kind in "SUV" else size
    has_object = bool(state[7] & 1) if state[0] >= 3 else kind == "O"
    return itemsize, has_object


class JoblibRecorder(PyRecorder):
    """joblib's NumpyUnpickler (`numpy_pickle.py`) over stubs."""

    dispatch = pickle._Unpickler.dispatch.copy()

    def load_build(self):
        pickle._Unpickler.load_build(self)
        if isinstance(self.stack[-1], WrapperStub):
            wrapper = self.stack.pop()
            count = 1
            for dim in wrapper.shape:
                count *= int(dim)
            itemsize, has_object = dtype_info(wrapper.dtype)
            if has_object:
                CRecorder(self._f, self._data, self._log).load()
            else:
                if getattr(wrapper, "numpy_array_alignment_bytes", None) is not None:
                    padding = self._f.read(1)[0]
                    self._f.read(padding)
                need = count * itemsize
                if len(self._f.read(need)) != need:
                    raise ValueError("array data truncated")
            self.stack.append(Stub())

    dispatch[pickle.BUILD[0]] = load_build


def read_stream(data, recorder, kept):
    log = Log()
    f = io.BytesIO(data)
    loads, error = 0, None
    unpickler = None
    try:
        while f.tell() < len(data):
            if unpickler is None or not kept:
                unpickler = recorder(f, data, log)
            unpickler.load()
            loads += 1
    except Exception as exc:  # the reading stops, as the loader would
        error = f"{type(exc).__name__}: {exc}"[:200]
    return log.calls, {"loads": loads, "complete": error is None, "error": error}


READINGS = {
    "c_fresh": (CRecorder, False),
    "c_kept": (CRecorder, True),
    "py_fresh": (PyRecorder, False),
    "py_kept": (PyRecorder, True),
    "joblib": (JoblibRecorder, False),
}


def verdict(data):
    calls, runs = [], {}
    sources = [("", data)]
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    sources.append((info.filename + ":", archive.read(info)))
        except Exception as exc:
            runs["zipfile"] = {"loads": 0, "complete": False, "error": str(exc)[:200]}
    for prefix, body in sources:
        for reading, (recorder, kept) in READINGS.items():
            found, run = read_stream(body, recorder, kept)
            calls.extend(found)
            runs[prefix + reading] = run
    seen, unique = set(), []
    for call in calls:
        key = json.dumps(call, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(call)
    return {"globals": unique, "runs": runs}


# ---------------------------------------------------------------------------
# The corpus.

CORPUS = []


def add(name, data, benign):
    CORPUS.append((name, bytes(data), benign))


class Reduce:
    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


class NewArgsEx:
    def __reduce_ex__(self, proto):
        return (copyreg.__newobj_ex__, (Evil, ("a",), {"k": 1}), None)


class NewObjPopen:
    def __reduce_ex__(self, proto):
        import subprocess

        return (copyreg.__newobj__, (subprocess.Popen, ("echo",)), None)


def benign_objects():
    shared = [1, 2]
    recursive = []
    recursive.append(recursive)
    defaults = collections.defaultdict(list)
    defaults["k"].append(1)
    return {
        "plain": {"a": [1, 2.5, None, True, False], "b": (1, "x"), "c": {1, 2}, "d": frozenset([3])},
        "text": ["", "ascii", "snowman \u2603", "surrogate \ud800", "x" * 300],
        "numbers": [0, -1, 255, 65535, 2**31, -(2**31), 2**63, 2**100, -(2**100), 1.5, 1 + 2j],
        "bytes": [b"", b"raw", bytearray(b"ba"), b"\x00\xff" * 200],
        "shared": [shared, shared, (shared,)],
        "recursive": recursive,
        "ordered": collections.OrderedDict([("x", 1), ("y", [2])]),
        "defaultdict": defaults,
        "dates": [datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.date(2020, 1, 2), datetime.timedelta(3)],
        "ranges": [range(3), slice(1, 2, 3)],
        "isolation_forest": isolation_forest(),
        "gradient_boosting": gradient_boosting(),
        "set_of_tuples": {(1, 2), (3, 4)},
        "empty": [[], {}, (), set(), frozenset()],
    }


def malicious_objects():
    return {
        "os_system": Reduce(os.system, ("echo outpost",)),
        "eval": Reduce(eval, ("1+1",)),
        "getattr_chain": Reduce(getattr, (IsolationForest, "__init__")),
        "popen_newobj": NewObjPopen(),
        "newobj_ex": NewArgsEx(),
        "nested_in_data": {"model": isolation_forest(), "hook": [Reduce(os.system, ("id",))]},
        "unknown_class": estimator(Evil, x=1),
        "exec_in_ordered": collections.OrderedDict([("a", Reduce(exec, ("pass",)))]),
    }


def standard_corpus():
    for proto in range(6):
        for name, obj in benign_objects().items():
            if name == "newobj_ex" and proto < 2:
                continue
            add(f"benign-{name}-p{proto}.pkl", pickle.dumps(obj, protocol=proto), True)
            add(f"benign-{name}-p{proto}-py.pkl", pickle._dumps(obj, protocol=proto), True)
        for name, obj in malicious_objects().items():
            for suffix, dumps in (("", pickle.dumps), ("-py", pickle._dumps)):
                try:
                    data = dumps(obj, protocol=proto)
                except Exception:
                    continue
                add(f"evil-{name}-p{proto}{suffix}.pkl", data, False)


def u(text):
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def handmade_corpus():
    e = b"(S'echo outpost'\ntR."
    call_id = u("id") + b"\x85R."
    # No PROTO: protocol 0 and 1 pickles start with any opcode.
    add("noproto-global.pkl", b"cos\nsystem\n" + e, False)
    add("noproto-builtin-eval.pkl", b"c__builtin__\neval\n(S'1'\ntR.", False)
    add("noproto-inst.pkl", b"(S'echo outpost'\nios\nsystem\n.", False)
    add("noproto-obj.pkl", b"(cos\nsystem\nS'echo outpost'\no.", False)
    add("noproto-commands.pkl", b"ccommands\ngetoutput\n" + e, False)
    add("noproto-list.pkl", b"(lp0\nI1\naI2\naS'x'\np1\nag1\na.", True)
    add("noproto-dict.pkl", b"(dp0\nS'k'\np1\nL5L\nsV\\u2603\nF1.5\ns.", True)
    add("noproto-none.pkl", b"N.", True)
    add("noproto-set-p2-names.pkl", b"c__builtin__\nset\n((lI1\natR.", True)
    add(
        "noproto-reconstructor.pkl",
        b"ccopy_reg\n_reconstructor\n(csklearn.tree._classes\nDecisionTreeClassifier\n"
        b"c__builtin__\nobject\nNtR(dS'max_depth'\nI3\nsb.",
        True,
    )
    # MARK / POP_MARK / POP: values below a mark are out of reach until it is popped.
    p4 = b"\x80\x04"
    os_system = u("os") + u("system")
    add("mark-pop-mark.pkl", p4 + os_system + b"(" + u("collections") + u("OrderedDict") + u("x") + b"1\x93" + call_id, False)
    add("mark-pop-pops-mark.pkl", p4 + os_system + b"(0\x93" + call_id, False)
    add("mark-nested.pkl", p4 + u("builtins") + u("eval") + b"((" + u("a") + b"11\x93" + u("1") + b"\x85R.", False)
    add("mark-hides-benign.pkl", p4 + u("collections") + u("OrderedDict") + b"(" + u("builtins") + u("eval") + b"\x93" + u("1") + b"\x85R.", False)
    add("mark-benign-below.pkl", p4 + u("collections") + u("OrderedDict") + b"(" + u("x") + u("y") + b"1\x93)R.", True)
    add("mark-tuple-to-mark.pkl", p4 + b"(" + os_system + b"t" + u("x") + b"N\x860" + os_system + b"\x93" + call_id, False)
    add("pop-underflow.pkl", p4 + b"0" + os_system + b"\x93.", False)
    # Memo: PUT/GET spellings, overwrites, MEMOIZE's index, long keys, DUP.
    add("memo-text-keys.pkl", p4 + u("os") + b"p 1_0 \n" + u("system") + b"p011\ng10\ng+11\n\x93" + call_id, False)
    add("memo-c-nul-key.pkl", p4 + u("os") + b"p1\x00zz\n" + u("system") + b"p2\ng1\x00\ng2\n\x93" + call_id, False)
    add("memo-overwrite.pkl", p4 + u("collections") + b"q\x01" + u("os") + b"q\x01" + u("system") + b"q\x02h\x01h\x02\x93" + call_id, False)
    add("memo-long.pkl", p4 + u("builtins") + b"r\x00\x00\x01\x00" + u("eval") + b"r\x00\x00\x02\x00j\x00\x00\x01\x00j\x00\x00\x02\x00\x93" + u("1") + b"\x85R.", False)
    add("memo-memoize-count.pkl", p4 + u("a") + b"q\x05" + u("builtins") + b"\x94" + u("exec") + b"\x94h\x01h\x02\x93" + u("pass") + b"\x85R.", False)
    add("memo-dup.pkl", p4 + u("builtins") + u("eval") + b"\x932" + u("1") + b"\x85R0" + u("2") + b"\x85R.", False)
    add("memo-miss.pkl", p4 + b"h\x09.", False)
    add("memo-benign.pkl", p4 + u("collections") + b"\x94" + u("OrderedDict") + b"\x94h\x00h\x01\x93)R\x94h\x02.", True)
    # Strings as the unpickler decodes them.
    add("string-escapes.pkl", p4 + b"S'\\x6fs'\nS'sys\\164em'\n\x93" + call_id, False)
    add("unicode-escapes.pkl", p4 + b"V\\u006fs\nVsyst\\u0065m\n\x93" + call_id, False)
    add("binstring.pkl", p4 + b"U\x02osT\x06\x00\x00\x00system\x93" + call_id, False)
    add("bytes-not-str.pkl", p4 + b"C\x02osC\x06system\x93.", False)
    # Several pickles in one stream.
    add("two-pickles.pkl", b"\x80\x02K\x01.cos\nsystem\n" + e, False)
    add("three-pickles.pkl", b"N.N." + p4 + u("builtins") + u("eval") + b"\x93" + u("1") + b"\x85R.", False)
    add("second-uses-kept-memo.pkl", p4 + u("os") + b"\x94" + u("system") + b"\x94\x86." + p4 + b"h\x00h\x01\x93" + call_id, False)
    add(
        "memoize-index-differs.pkl",
        p4 + u("collections") + b"\x94" + u("OrderedDict") + b"\x94\x86."
        + p4 + u("builtins") + b"\x94" + u("eval") + b"\x94h\x00h\x01\x93" + u("1") + b"\x85R.",
        False,
    )
    # Only a loader that keeps its memo between load() calls reaches os.system:
    # MEMOIZE numbers entries after the first pickle's.
    add(
        "kept-memo-only.pkl",
        p4 + u("os") + b"\x94" + u("system") + b"\x94\x86."
        + p4 + u("collections") + b"\x94" + u("OrderedDict") + b"\x94h\x00h\x01\x93)R.",
        False,
    )
    add("benign-then-newline.pkl", p4 + b"K\x01.\n", True)
    add("benign-two.pkl", p4 + b"K\x01.\x80\x02ccollections\nOrderedDict\n)R.", True)
    add("truncated-second.pkl", b"N.cos\nsystem\n(S'echo'\ntR", False)
    add("truncated-first.pkl", b"cos\nsystem\n(S'echo'\ntR", False)
    add("unterminated-name.pkl", b"(S'echo outpost'\nios\nsystemX", False)
    # Dotted names and dunder parts under allow-listed modules.
    add("dotted-builtins-get.pkl", p4 + u("sklearn") + u("__builtins__.get") + b"\x93" + u("eval") + b"\x85R" + u("1") + b"\x85R.", False)
    add("dotted-globals.pkl", p4 + u("numpy.core.multiarray") + u("_reconstruct.__globals__") + b"\x93.", False)
    add("dotted-classmethod.pkl", p4 + u("collections") + u("OrderedDict.fromkeys") + b"\x93)R.", False)
    add("allowed-module-other-name.pkl", p4 + u("sklearn") + u("base") + b"\x93.", False)
    add("builtins-getattr.pkl", p4 + b"cbuiltins\ngetattr\n" + u("builtins") + u("object") + b"\x93" + u("__subclasses__") + b"\x86R)R.", False)
    add("proto3-no-mapping.pkl", b"\x80\x03c__builtin__\nset\n)R.", False)
    add("proto-midstream.pkl", p4 + u("x") + b"\x80\x02c__builtin__\neval\n" + u("1") + b"\x85R.", False)
    # Other opcodes.
    add("ext-code.pkl", b"\x80\x02\x82\x01.", False)
    add("persid.pkl", b"\x80\x02Pstorage\n.", True)
    add("binpersid.pkl", b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000tQ.", True)
    add("frame-short.pkl", p4 + b"\x95\x40\x00\x00\x00\x00\x00\x00\x00cos\nsystem\n" + e, False)
    add("unknown-opcode.pkl", p4 + b"\xff.", False)
    add("newobj-ex.pkl", p4 + u("evil.module") + u("Thing") + b"\x93)}\x92.", False)
    add("build-on-global.pkl", p4 + u("sklearn.dummy") + u("DummyRegressor") + b"\x93N}" + u("x") + u("y") + b"s\x86b.", False)


def joblib_stream(obj, proto=5, alignment=16, flags=None):
    """What joblib.dump writes: a NumpyArrayWrapper per array, followed by the
    array bytes (`numpy_pickle.NumpyPickler.save`)."""

    class Pickler(pickle._Pickler):
        def save(self, value, save_persistent_id=True):
            if isinstance(value, Array):
                wrapper = NumpyArrayWrapper.__new__(NumpyArrayWrapper)
                dt = value.dt
                if flags is not None:
                    dt = _Dtype(dt.typestr, flags=flags, elsize=dt.elsize, fields=dt.fields, names=dt.names)
                wrapper.__dict__.update(
                    subclass=ndarray, shape=value.shape, order="C", dtype=dt, allow_mmap=True
                )
                if alignment is not None:
                    wrapper.numpy_array_alignment_bytes = alignment
                super().save(wrapper)
                if self.proto >= 4:
                    self.framer.commit_frame(force=True)
                if value.dt.typestr.startswith("O"):
                    pickle.dump(value.raw, out, protocol=2)
                    return
                if alignment is not None:
                    pos = out.tell() + 1
                    pad = alignment - (pos % alignment)
                    out.write(bytes([pad]) + b"\xff" * pad)
                out.write(value.raw)
                return
            return super().save(value, save_persistent_id)

    out = io.BytesIO()
    Pickler(out, protocol=proto).dump(obj)
    return out.getvalue()


def joblib_corpus():
    model = isolation_forest()
    for proto in (2, 3, 4, 5):
        add(f"joblib-forest-p{proto}.joblib", joblib_stream(model, proto), True)
    add("joblib-gb.joblib", joblib_stream(gradient_boosting()), True)
    objects = Array(_Dtype("O8", flags=1), (2,), [estimator(DummyRegressor, strategy="mean"), 1.5])
    add("joblib-object-array.joblib", joblib_stream({"estimators_": objects, "x": f8(1.0)}), True)
    evil_objects = Array(_Dtype("O8", flags=1), (1,), [Reduce(os.system, ("id",))])
    add("joblib-object-array-evil.joblib", joblib_stream({"estimators_": evil_objects}), False)
    # The array bytes are opcodes for pickle.load.
    payload = b"cos\nsystem\n(S'echo outpost'\ntR."
    hidden = Array(_Dtype("u1"), (len(payload),), payload)
    add("joblib-array-is-pickle.joblib", joblib_stream({"a": hidden}, alignment=None), False)
    # A float dtype whose state claims objects: joblib runs a nested pickle.load.
    claimed = Array(_Dtype("O8", flags=1), (1,), [Reduce(os.system, ("id",))])
    data = joblib_stream({"a": claimed}).replace(b"\x8c\x02O8", b"\x8c\x02f8")
    add("joblib-flag-claims-objects.joblib", data, False)
    add("joblib-old-format.joblib", joblib_stream({"a": f8(0.5, 0.25)}, alignment=None), True)


def zip_corpus():
    def torch_zip(members, prefix=b"", compression=zipfile.ZIP_STORED):
        buf = io.BytesIO()
        buf.write(prefix)
        with zipfile.ZipFile(buf, "a" if prefix else "w", compression) as archive:
            for name, body in members:
                archive.writestr(name, body)
        return buf.getvalue()

    benign = pickle.dumps(collections.OrderedDict([("w", 1)]), protocol=2)
    evil = b"\x80\x02cos\nsystem\n(X\x07\x00\x00\x00echo hitR."
    base = [("archive/byteorder", b"little"), ("archive/version", b"3\n"), ("archive/data/0", b"\0\0\x80\x3f")]
    add("zip-benign.pt", torch_zip([("archive/data.pkl", benign)] + base), True)
    add("zip-evil.pt", torch_zip([("archive/data.pkl", evil)] + base), False)
    add("zip-second-pkl.pt", torch_zip([("archive/data.pkl", benign), ("archive/constants.pkl", evil)] + base), False)
    add("zip-unnamed-pickle.pt", torch_zip([("archive/data.pkl", benign), ("archive/extra", evil)] + base), False)
    add("zip-deflated.pt", torch_zip([("archive/data.pkl", evil)] + base, compression=zipfile.ZIP_DEFLATED), False)
    add("zip-deflated-benign.pt", torch_zip([("archive/data.pkl", benign)] + base, compression=zipfile.ZIP_DEFLATED), True)
    add("zip-prefix-junk.pt", torch_zip([("archive/data.pkl", evil)] + base, prefix=b"PK\x07\x08junk"), False)
    # Offsets relative to the archive, not the file (zipfile's "concat").
    add("zip-prefix-relative.pt", b"PK\x07\x08" + torch_zip([("archive/data.pkl", evil)] + base), False)
    add("zip-prefix-relative-benign.pt", b"\x00junk" + torch_zip([("archive/data.pkl", benign)] + base), True)
    add("zip-prefix-pickle.pt", torch_zip([("archive/data.pkl", benign)] + base, prefix=b"cos\nsystem\n(S'id'\ntR."), False)
    add("zip-prefix-benign.pt", torch_zip([("archive/data.pkl", benign)] + base, prefix=b"\x01\x02\x03\x04"), True)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    standard_corpus()
    handmade_corpus()
    joblib_corpus()
    zip_corpus()
    verdicts = {}
    for name, data, benign in CORPUS:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        entry = verdict(data)
        entry["benign"] = benign
        verdicts[name] = entry
    with open(os.path.join(out, "verdicts.json"), "w") as f:
        json.dump(verdicts, f, indent=1, sort_keys=True)
    print(f"{len(verdicts)} files")


if __name__ == "__main__":
    main()
