"""Inference on the device with the Rust core (``outpost-infer``: tract with
Outpost's ``ai.onnx.ml`` operators) — the code the inference Worker, the CLI
and the wasm client run, so a model scores the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from . import _native
from .errors import InputError

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
    ``Device.load(model, stage)``."""

    def __init__(self, native: _native.Model) -> None:
        self._native = native

    @classmethod
    def load(cls, source: Union[bytes, str, Path]) -> "Model":
        """Loads ONNX bytes or a file. Raises ``ModelError`` (with the stage
        that refused it) for a malformed or unsupported model."""
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
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
        array = np.ascontiguousarray(array, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InputError(f"input `{name}` cannot be read as {element_type}: {err}") from None
    return (name, element_type, list(array.shape), array.tobytes())


def _array(element_type: str, shape: List[int], data) -> np.ndarray:
    if element_type == "string":
        return np.array(data, dtype=object).reshape(shape)
    return np.frombuffer(data, dtype=DTYPES[element_type]).reshape(shape).copy()
