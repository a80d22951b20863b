//! Which globals a pickle may import, and the names the loader really resolves.
//!
//! The allow-list holds exact `module.qualname` pairs of data-only constructors
//! and of the estimator classes Outpost's registry targets. There are no
//! prefix entries: a package on the list does not vouch for every dotted name
//! below it (`sklearn.__builtins__.get` reaches `eval`), and names with dunder
//! parts or dotted qualified names (which protocol 4 resolves by attribute
//! traversal, CPython `pickle.py` `_getattribute`) are never allowed.
//!
//! For protocols 0–2 CPython maps Python 2 names before importing
//! (`_Unpickler.find_class`, `Lib/_compat_pickle.py`), so the check applies to
//! the mapped name: `__builtin__.set` is `builtins.set`, `__builtin__.eval` is
//! `builtins.eval`.

/// Globals that only rebuild data (containers, arrays, tensors, estimators'
/// state). Exact `module.name` entries; nothing else is allowed.
pub const SAFE_GLOBALS: &[&str] = &[
    // Built-in data types. Calling them builds a value and nothing else.
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
    "builtins.object",
    // How protocols 0-2 spell `bytes`: `_codecs.encode(text, "latin1")`.
    "_codecs.encode",
    // `object.__reduce_ex__` for protocols 0-1: `_reconstructor(cls, base, state)`.
    "copyreg._reconstructor",
    "collections.OrderedDict",
    "collections.defaultdict",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    // NumPy arrays, dtypes and scalars (numpy 1.x `core`, numpy 2.x `_core`).
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.bool_",
    "numpy.int8",
    "numpy.int16",
    "numpy.int32",
    "numpy.int64",
    "numpy.uint8",
    "numpy.uint16",
    "numpy.uint32",
    "numpy.uint64",
    "numpy.float16",
    "numpy.float32",
    "numpy.float64",
    // Random states kept by estimators (`random_state=np.random.RandomState(..)`).
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random.mtrand.RandomState",
    // joblib writes arrays as this wrapper followed by the raw array bytes.
    "joblib.numpy_pickle.NumpyArrayWrapper",
    // scikit-learn trees, forests, boosting and anomaly detectors.
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._forest.RandomTreesEmbedding",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._weight_boosting.AdaBoostClassifier",
    "sklearn.ensemble._weight_boosting.AdaBoostRegressor",
    "sklearn.ensemble._bagging.BaggingClassifier",
    "sklearn.ensemble._bagging.BaggingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.svm._classes.OneClassSVM",
    "sklearn.covariance._elliptic_envelope.EllipticEnvelope",
    // A gradient-boosting model's initial estimator.
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    // Losses of gradient boosting: scikit-learn < 1.4 ...
    "sklearn.ensemble._gb_losses.LeastSquaresError",
    "sklearn.ensemble._gb_losses.LeastAbsoluteError",
    "sklearn.ensemble._gb_losses.HuberLossFunction",
    "sklearn.ensemble._gb_losses.QuantileLossFunction",
    "sklearn.ensemble._gb_losses.BinomialDeviance",
    "sklearn.ensemble._gb_losses.MultinomialDeviance",
    "sklearn.ensemble._gb_losses.ExponentialLoss",
    // ... and >= 1.4, with their Cython halves and Cython's unpickle helpers.
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfSquaredError",
    "sklearn._loss._loss.__pyx_unpickle_CyAbsoluteError",
    "sklearn._loss._loss.__pyx_unpickle_CyPinballLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHuberLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfPoissonLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfBinomialLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyExponentialLoss",
    "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
    // PyTorch checkpoints (`torch.save`): tensors, parameters, storages, dtypes.
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
    "torch.float64",
    "torch.int64",
    "torch.int32",
    "torch.uint8",
    "torch.bool",
    "torch.Size",
];

/// `builtins.object`, the `base` of `copyreg._reconstructor` for plain classes.
pub(super) const OBJECT: (&str, &str) = ("builtins", "object");
pub(super) const RECONSTRUCTOR: (&str, &str) = ("copyreg", "_reconstructor");
/// Calls `func(*args)` and returns whatever that gives (torch `_tensor.py`).
pub(super) const REBUILD_FROM_TYPE: (&str, &str) = ("torch._tensor", "_rebuild_from_type_v2");
pub(super) const NUMPY_DTYPE: (&str, &str) = ("numpy", "dtype");
pub(super) const ARRAY_WRAPPER: (&str, &str) = ("joblib.numpy_pickle", "NumpyArrayWrapper");

/// Whether `global` (`module.name`) is on the allow-list.
///
/// Exact entries only; a name with a dunder part (`__globals__`,
/// `__builtins__`) is refused even if someone lists it.
pub fn is_safe_global(global: &str) -> bool {
    !global.split('.').any(is_dunder) && SAFE_GLOBALS.contains(&global)
}

/// Whether the loader may import `name` from `module` (names as the loader
/// resolves them, after [`resolve`]).
pub(super) fn is_allowed(module: &str, name: &str) -> bool {
    // A dotted name is attribute traversal (protocol >= 4); never allowed.
    !name.contains('.')
        && !module.is_empty()
        && !name.is_empty()
        && is_safe_global(&format!("{module}.{name}"))
}

fn is_dunder(part: &str) -> bool {
    part.len() > 4 && part.starts_with("__") && part.ends_with("__")
}

/// The `(module, name)` CPython's `find_class` imports: for protocol < 3 (with
/// the default `fix_imports=True`) Python 2 names are mapped first, the pair
/// through `NAME_MAPPING`, otherwise the module through `IMPORT_MAPPING`.
pub(super) fn resolve<'a>(proto: u8, module: &'a str, name: &'a str) -> (&'a str, &'a str) {
    if proto >= 3 {
        return (module, name);
    }
    if let Some((_, to)) = NAME_MAPPING
        .iter()
        .find(|((m, n), _)| *m == module && *n == name)
    {
        return *to;
    }
    if let Some((_, to)) = IMPORT_MAPPING.iter().find(|(m, _)| *m == module) {
        return (to, name);
    }
    (module, name)
}

// CPython 3.11 `Lib/_compat_pickle.py`, `NAME_MAPPING` and `IMPORT_MAPPING`
// (the Python 2 → 3 direction `find_class` uses). Generated from the module.
/// A `(module, name)` pair.
type Name = (&'static str, &'static str);

pub(super) const NAME_MAPPING: &[(Name, Name)] = &[
    (
        ("UserDict", "IterableUserDict"),
        ("collections", "UserDict"),
    ),
    (("UserDict", "UserDict"), ("collections", "UserDict")),
    (("UserList", "UserList"), ("collections", "UserList")),
    (("UserString", "UserString"), ("collections", "UserString")),
    (("__builtin__", "basestring"), ("builtins", "str")),
    (("__builtin__", "intern"), ("sys", "intern")),
    (("__builtin__", "long"), ("builtins", "int")),
    (("__builtin__", "reduce"), ("functools", "reduce")),
    (("__builtin__", "unichr"), ("builtins", "chr")),
    (("__builtin__", "unicode"), ("builtins", "str")),
    (("__builtin__", "xrange"), ("builtins", "range")),
    (
        ("_multiprocessing", "Connection"),
        ("multiprocessing.connection", "Connection"),
    ),
    (("_socket", "fromfd"), ("socket", "fromfd")),
    (
        ("exceptions", "ArithmeticError"),
        ("builtins", "ArithmeticError"),
    ),
    (
        ("exceptions", "AssertionError"),
        ("builtins", "AssertionError"),
    ),
    (
        ("exceptions", "AttributeError"),
        ("builtins", "AttributeError"),
    ),
    (
        ("exceptions", "BaseException"),
        ("builtins", "BaseException"),
    ),
    (("exceptions", "BufferError"), ("builtins", "BufferError")),
    (("exceptions", "BytesWarning"), ("builtins", "BytesWarning")),
    (
        ("exceptions", "DeprecationWarning"),
        ("builtins", "DeprecationWarning"),
    ),
    (("exceptions", "EOFError"), ("builtins", "EOFError")),
    (
        ("exceptions", "EnvironmentError"),
        ("builtins", "EnvironmentError"),
    ),
    (("exceptions", "Exception"), ("builtins", "Exception")),
    (
        ("exceptions", "FloatingPointError"),
        ("builtins", "FloatingPointError"),
    ),
    (
        ("exceptions", "FutureWarning"),
        ("builtins", "FutureWarning"),
    ),
    (
        ("exceptions", "GeneratorExit"),
        ("builtins", "GeneratorExit"),
    ),
    (("exceptions", "IOError"), ("builtins", "IOError")),
    (("exceptions", "ImportError"), ("builtins", "ImportError")),
    (
        ("exceptions", "ImportWarning"),
        ("builtins", "ImportWarning"),
    ),
    (
        ("exceptions", "IndentationError"),
        ("builtins", "IndentationError"),
    ),
    (("exceptions", "IndexError"), ("builtins", "IndexError")),
    (("exceptions", "KeyError"), ("builtins", "KeyError")),
    (
        ("exceptions", "KeyboardInterrupt"),
        ("builtins", "KeyboardInterrupt"),
    ),
    (("exceptions", "LookupError"), ("builtins", "LookupError")),
    (("exceptions", "MemoryError"), ("builtins", "MemoryError")),
    (("exceptions", "NameError"), ("builtins", "NameError")),
    (
        ("exceptions", "NotImplementedError"),
        ("builtins", "NotImplementedError"),
    ),
    (("exceptions", "OSError"), ("builtins", "OSError")),
    (
        ("exceptions", "OverflowError"),
        ("builtins", "OverflowError"),
    ),
    (
        ("exceptions", "PendingDeprecationWarning"),
        ("builtins", "PendingDeprecationWarning"),
    ),
    (
        ("exceptions", "ReferenceError"),
        ("builtins", "ReferenceError"),
    ),
    (("exceptions", "RuntimeError"), ("builtins", "RuntimeError")),
    (
        ("exceptions", "RuntimeWarning"),
        ("builtins", "RuntimeWarning"),
    ),
    (("exceptions", "StandardError"), ("builtins", "Exception")),
    (
        ("exceptions", "StopIteration"),
        ("builtins", "StopIteration"),
    ),
    (("exceptions", "SyntaxError"), ("builtins", "SyntaxError")),
    (
        ("exceptions", "SyntaxWarning"),
        ("builtins", "SyntaxWarning"),
    ),
    (("exceptions", "SystemError"), ("builtins", "SystemError")),
    (("exceptions", "SystemExit"), ("builtins", "SystemExit")),
    (("exceptions", "TabError"), ("builtins", "TabError")),
    (("exceptions", "TypeError"), ("builtins", "TypeError")),
    (
        ("exceptions", "UnboundLocalError"),
        ("builtins", "UnboundLocalError"),
    ),
    (
        ("exceptions", "UnicodeDecodeError"),
        ("builtins", "UnicodeDecodeError"),
    ),
    (
        ("exceptions", "UnicodeEncodeError"),
        ("builtins", "UnicodeEncodeError"),
    ),
    (("exceptions", "UnicodeError"), ("builtins", "UnicodeError")),
    (
        ("exceptions", "UnicodeTranslateError"),
        ("builtins", "UnicodeTranslateError"),
    ),
    (
        ("exceptions", "UnicodeWarning"),
        ("builtins", "UnicodeWarning"),
    ),
    (("exceptions", "UserWarning"), ("builtins", "UserWarning")),
    (("exceptions", "ValueError"), ("builtins", "ValueError")),
    (("exceptions", "Warning"), ("builtins", "Warning")),
    (
        ("exceptions", "ZeroDivisionError"),
        ("builtins", "ZeroDivisionError"),
    ),
    (("itertools", "ifilter"), ("builtins", "filter")),
    (("itertools", "ifilterfalse"), ("itertools", "filterfalse")),
    (("itertools", "imap"), ("builtins", "map")),
    (("itertools", "izip"), ("builtins", "zip")),
    (("itertools", "izip_longest"), ("itertools", "zip_longest")),
    (
        ("multiprocessing", "AuthenticationError"),
        ("multiprocessing.context", "AuthenticationError"),
    ),
    (
        ("multiprocessing", "BufferTooShort"),
        ("multiprocessing.context", "BufferTooShort"),
    ),
    (
        ("multiprocessing", "ProcessError"),
        ("multiprocessing.context", "ProcessError"),
    ),
    (
        ("multiprocessing", "TimeoutError"),
        ("multiprocessing.context", "TimeoutError"),
    ),
    (
        ("multiprocessing.forking", "Popen"),
        ("multiprocessing.popen_fork", "Popen"),
    ),
    (
        ("multiprocessing.process", "Process"),
        ("multiprocessing.context", "Process"),
    ),
    (("socket", "_socketobject"), ("socket", "SocketType")),
    (
        ("urllib", "ContentTooShortError"),
        ("urllib.error", "ContentTooShortError"),
    ),
    (("urllib", "getproxies"), ("urllib.request", "getproxies")),
    (
        ("urllib", "pathname2url"),
        ("urllib.request", "pathname2url"),
    ),
    (("urllib", "quote"), ("urllib.parse", "quote")),
    (("urllib", "quote_plus"), ("urllib.parse", "quote_plus")),
    (("urllib", "unquote"), ("urllib.parse", "unquote")),
    (("urllib", "unquote_plus"), ("urllib.parse", "unquote_plus")),
    (
        ("urllib", "url2pathname"),
        ("urllib.request", "url2pathname"),
    ),
    (("urllib", "urlcleanup"), ("urllib.request", "urlcleanup")),
    (("urllib", "urlencode"), ("urllib.parse", "urlencode")),
    (("urllib", "urlopen"), ("urllib.request", "urlopen")),
    (("urllib", "urlretrieve"), ("urllib.request", "urlretrieve")),
    (("urllib2", "HTTPError"), ("urllib.error", "HTTPError")),
    (("urllib2", "URLError"), ("urllib.error", "URLError")),
    (("whichdb", "whichdb"), ("dbm", "whichdb")),
];
pub(super) const IMPORT_MAPPING: &[(&str, &str)] = &[
    ("BaseHTTPServer", "http.server"),
    ("CGIHTTPServer", "http.server"),
    ("ConfigParser", "configparser"),
    ("Cookie", "http.cookies"),
    ("Dialog", "tkinter.dialog"),
    ("DocXMLRPCServer", "xmlrpc.server"),
    ("FileDialog", "tkinter.filedialog"),
    ("HTMLParser", "html.parser"),
    ("Queue", "queue"),
    ("ScrolledText", "tkinter.scrolledtext"),
    ("SimpleDialog", "tkinter.simpledialog"),
    ("SimpleHTTPServer", "http.server"),
    ("SimpleXMLRPCServer", "xmlrpc.server"),
    ("SocketServer", "socketserver"),
    ("StringIO", "io"),
    ("Tix", "tkinter.tix"),
    ("Tkconstants", "tkinter.constants"),
    ("Tkdnd", "tkinter.dnd"),
    ("Tkinter", "tkinter"),
    ("UserDict", "collections"),
    ("UserList", "collections"),
    ("UserString", "collections"),
    ("__builtin__", "builtins"),
    ("_abcoll", "collections.abc"),
    ("_elementtree", "xml.etree.ElementTree"),
    ("_winreg", "winreg"),
    ("anydbm", "dbm"),
    ("cPickle", "pickle"),
    ("cStringIO", "io"),
    ("commands", "subprocess"),
    ("cookielib", "http.cookiejar"),
    ("copy_reg", "copyreg"),
    ("dbhash", "dbm.bsd"),
    ("dbm", "dbm.ndbm"),
    ("dumbdbm", "dbm.dumb"),
    ("dummy_thread", "_dummy_thread"),
    ("gdbm", "dbm.gnu"),
    ("htmlentitydefs", "html.entities"),
    ("httplib", "http.client"),
    ("markupbase", "_markupbase"),
    ("repr", "reprlib"),
    ("robotparser", "urllib.robotparser"),
    ("test.test_support", "test.support"),
    ("thread", "_thread"),
    ("tkColorChooser", "tkinter.colorchooser"),
    ("tkCommonDialog", "tkinter.commondialog"),
    ("tkFileDialog", "tkinter.filedialog"),
    ("tkFont", "tkinter.font"),
    ("tkMessageBox", "tkinter.messagebox"),
    ("tkSimpleDialog", "tkinter.simpledialog"),
    ("ttk", "tkinter.ttk"),
    ("urllib2", "urllib.request"),
    ("urlparse", "urllib.parse"),
    ("whichdb", "dbm"),
    ("xmlrpclib", "xmlrpc.client"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_only() {
        assert!(is_safe_global("sklearn.ensemble._iforest.IsolationForest"));
        assert!(is_safe_global("numpy.core.multiarray._reconstruct"));
        assert!(!is_safe_global("numpy.load"));
        assert!(!is_safe_global("builtins.getattr"));
        assert!(!is_safe_global("sklearn.something"));
        assert!(!is_safe_global("sklearnx.evil"));
        assert!(!is_allowed("sklearn", "__builtins__.get"));
        assert!(!is_allowed(
            "sklearn.tree._classes",
            "DecisionTreeClassifier.__init__"
        ));
        assert!(!is_allowed("builtins", "eval"));
        assert!(is_allowed("sklearn.tree._tree", "Tree"));
    }

    #[test]
    fn no_entry_is_a_prefix_or_has_dunder_parts() {
        for entry in SAFE_GLOBALS {
            assert!(!entry.ends_with('.'), "{entry}");
            assert!(!entry.split('.').any(is_dunder), "{entry}");
            assert!(is_safe_global(entry), "{entry}");
        }
    }

    #[test]
    fn python_2_names_are_checked_as_resolved() {
        assert_eq!(resolve(2, "__builtin__", "set"), ("builtins", "set"));
        assert_eq!(
            resolve(0, "copy_reg", "_reconstructor"),
            ("copyreg", "_reconstructor")
        );
        assert_eq!(resolve(2, "__builtin__", "xrange"), ("builtins", "range"));
        assert_eq!(
            resolve(1, "commands", "getoutput"),
            ("subprocess", "getoutput")
        );
        assert_eq!(resolve(3, "__builtin__", "set"), ("__builtin__", "set"));
        assert_eq!(resolve(2, "os", "system"), ("os", "system"));
    }

    /// A loader with `fix_imports=False` resolves the raw name instead. That is
    /// harmless only if every raw name that maps onto the allow-list names a
    /// module Python 3 does not have, so importing it fails.
    #[test]
    fn raw_names_mapping_onto_the_list_are_python_2_only() {
        const PYTHON_2_ONLY: &[&str] = &[
            "__builtin__",
            "copy_reg",
            "exceptions",
            "UserDict",
            "UserList",
            "UserString",
        ];
        for ((m, n), (to_m, to_n)) in NAME_MAPPING {
            if is_allowed(to_m, to_n) {
                assert!(PYTHON_2_ONLY.contains(m), "{m}.{n}");
            }
        }
        for (m, to) in IMPORT_MAPPING {
            if SAFE_GLOBALS
                .iter()
                .any(|g| g.starts_with(&format!("{to}.")))
            {
                assert!(PYTHON_2_ONLY.contains(m), "{m} -> {to}");
            }
        }
    }
}
