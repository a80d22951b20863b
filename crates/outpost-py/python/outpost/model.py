"""Inference on the device with the Rust core (``outpost-infer``: tract with
Outpost's ``ai.onnx.ml`` operators) — the code the inference Worker, the CLI
and the wasm client run, so a model scores the same everywhere."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from .errors import InputError

if TYPE_CHECKING:
    from .device import Installed

#: ONNX element type → numpy dtype (little-endian, as the core reads bytes).
DTYPES: Dict[str, np.dtype] = {
    "float": np.dtype("<f4"),
    "double": np.dtype("<f8"),
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("bool"),
}

Inputs = Union[np.ndarray, Sequence, Mapping[str, Union[np.ndarray, Sequence]]]


class Model:
    """An ONNX model loaded, validated and planned once; ``predict`` many
    times. Obtain one with ``Model.load(bytes_or_path)`` or
    ``Device.load(model, stage)`` (which sets ``installed`` and records
    feature values over the version's reference bins).

    Every ``predict`` is recorded in a telemetry window (calls, errors,
    latency, per-feature histograms and a bounded sample of values — never
    rows); ``report()`` hands it over and starts a new one.
    """

    def __init__(self, native: _native.Model, installed: "Optional[Installed]" = None) -> None:
        self._native = native
        #: What ``Device.load`` installed, if the model came from there.
        self.installed = installed
        #: An outcome window taken but not yet acknowledged by the registry:
        #: ``(window id, window)``, sent again by ``Device.report_outcomes``.
        self.pending_outcomes: Optional[Tuple[str, Dict[str, Any]]] = None
        self._reporting = threading.Lock()

    def set_reference_profile(self, profile: Mapping[str, Any]) -> None:
        """Records feature values over the bins of ``profile`` (a version's
        reference profile, as ``Registry.reference`` returns it), so the
        registry's drift report can read this model's windows. Starts a new
        window."""
        self._native.set_reference_profile(json.dumps(profile))

    def report(self) -> Dict[str, Any]:
        """The telemetry window since the last report (the registry's
        ``TelemetryWindow``), and a fresh one started."""
        return json.loads(self._native.report())

    def record_outcomes(
        self,
        outputs: Mapping[str, np.ndarray],
        actual: Sequence[Any],
        values: Optional[Sequence[float]] = None,
    ) -> None:
        """Records what actually happened to rows this classifier predicted:
        ``outputs`` as ``predict`` returned them, ``actual`` the true label
        of each row (ints or strings, as the model's labels), ``values`` an
        optional business value per row. Aggregated at once into the
        model's outcome window (confusion counts, score histograms — never
        inputs); ``Device.report_outcomes`` sends it. All rows or none;
        ``InputError`` for outputs that are not a classifier's, lengths that
        differ or an invalid row."""
        as_lists = {name: np.asarray(array).tolist() for name, array in outputs.items() if name in ("label", "probabilities")}
        labels = actual.tolist() if hasattr(actual, "tolist") else [a.item() if hasattr(a, "item") else a for a in actual]
        try:
            # NaN is not JSON: refused here as the core refuses null.
            text = json.dumps(labels, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise InputError(f"actual labels must be numbers, strings or booleans without NaN: {err}") from None
        self._native.record_outcomes(
            json.dumps(as_lists), text, None if values is None else [float(v) for v in values]
        )

    def take_outcomes(self) -> Dict[str, Any]:
        """The outcome window since the last call (the registry's
        ``OutcomeWindow``), and a fresh one started."""
        return json.loads(self._native.take_outcomes())

    @classmethod
    def load(cls, source: Union[bytes, str, Path]) -> "Model":
        """Loads ONNX bytes or a file. Raises ``ModelError`` (with the stage
        that refused it) for a malformed or unsupported model."""
        if isinstance(source, bytes):
            data = source
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as err:
                raise InputError(f"reading the model {source}: {err}") from None
        return cls(_native.Model.load(data))

    @property
    def inputs(self) -> List[Tuple[str, str, List[Union[int, str]]]]:
        """Declared inputs: ``[(name, element type, shape)]``; a shape
        entry is an int or a symbol such as ``"N"`` (any size)."""
        return self._native.inputs

    @property
    def output_names(self) -> List[str]:
        return self._native.output_names

    def predict(self, inputs: Inputs) -> Dict[str, np.ndarray]:
        """Runs the model and returns ``{output name: numpy array}``.

        ``inputs`` is an array for a single-input model, or
        ``{input name: array}``. Arrays are converted to the declared
        element type (``float32`` for ``float``, …); a value that cannot be
        converted, a wrong rank or a fixed dimension that differs raises
        ``InputError`` naming the input, before the model runs. String
        outputs come back as object arrays of ``str``.
        """
        declared = self._native.inputs
        if not isinstance(inputs, Mapping):
            if len(declared) != 1:
                names = ", ".join(name for name, _, _ in declared)
                raise InputError(f"this model takes {len(declared)} inputs ({names}); pass a dict")
            inputs = {declared[0][0]: inputs}
        tensors = []
        for name, element_type, _shape in declared:
            if name not in inputs:
                raise InputError(f"input `{name}` is missing")
            tensors.append(_tensor(name, element_type, inputs[name]))
        unknown = set(inputs) - {name for name, _, _ in declared}
        if unknown:
            raise InputError(f"the model has no input named {', '.join(sorted(map(repr, unknown)))}")
        return {name: _array(dtype, shape, data) for name, dtype, shape, data in self._native.run(tensors)}


def _tensor(name: str, element_type: str, value) -> tuple:
    if element_type == "string":
        array = np.asarray(value, dtype=object)
        return (name, element_type, list(array.shape), [str(v) for v in array.ravel()])
    dtype = DTYPES.get(element_type)
    if dtype is None:
        raise InputError(f"input `{name}` has element type {element_type}, which Outpost cannot feed")
    try:
        array = np.asarray(value)
        if array.dtype.kind in ("U", "S", "O"):
            array = array.astype(np.float64)
        if dtype.kind in "iu" and array.dtype.kind == "f":
            finite = np.isfinite(array)
            if not finite.all() or (array != np.round(array)).any():
                raise InputError(
                    f"input `{name}` is {element_type} and these values are not whole numbers; convert them first"
                )
        if dtype.kind == "b" and array.dtype.kind != "b":
            raise InputError(f"input `{name}` is bool; pass booleans")
        array = np.ascontiguousarray(array, dtype=dtype)
    except (TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"input `{name}` cannot be read as {element_type}: {err}") from None
    return (name, element_type, list(array.shape), array.tobytes())


def _array(element_type: str, shape: List[int], data) -> np.ndarray:
    if element_type == "string":
        return np.array(data, dtype=object).reshape(shape)
    return np.frombuffer(data, dtype=DTYPES[element_type]).reshape(shape).copy()
