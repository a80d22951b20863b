"""Fitted scikit-learn estimators to ONNX (skl2onnx), checked before upload.

The converted model is loaded and run by the Rust core — what devices, the
Worker and browsers will run — on the caller's sample, and every output is
compared with the estimator's own answer on the same rows. A model that
would score differently once deployed is refused with the rows that differ.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from .errors import InputError
from .model import Model

#: The opsets Outpost's fixtures and runtimes are tested with.
OPSET = {"": 17, "ai.onnx.ml": 3}


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _matrix(sample: Any) -> np.ndarray:
    values = sample.to_numpy() if hasattr(sample, "to_numpy") else np.asarray(sample)
    try:
        matrix = np.ascontiguousarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"pushing an estimator needs a numeric sample: {err}") from None
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise InputError(f"the sample must be rows × features with at least one row, got shape {matrix.shape}")
    return matrix


def _expected(estimator: Any, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's method that gives ONNX output ``output``."""
    if output in ("label", "output_label"):
        return estimator.predict
    if output in ("probabilities", "output_probability"):
        return estimator.predict_proba
    if output == "scores":
        return estimator.decision_function
    if output == "variable":
        return estimator.predict
    raise InputError(
        f"the converted model has an output `{output}` that Outpost cannot check against the estimator; "
        "convert it yourself and push the ONNX file"
    )


def convert(estimator: Any, sample: Any, tolerance: float) -> Tuple[bytes, str]:
    """``(onnx bytes, framework)``. Raises ``InputError`` when the
    estimator cannot be converted or its conversion answers differently."""
    try:
        import sklearn
        from skl2onnx import to_onnx
        from sklearn.base import is_classifier
    except ImportError:
        raise InputError(
            "pushing a scikit-learn estimator needs skl2onnx: pip install 'outpost[sklearn]'"
        ) from None
    if not tolerance >= 0:
        raise InputError(f"tolerance must be a non-negative number, got {tolerance}")
    matrix = _matrix(sample)
    final = _final_step(estimator)
    options: Dict[int, Dict[str, Any]] = {}
    if is_classifier(final):
        options[id(final)] = {"zipmap": False}
    try:
        onnx_model = to_onnx(estimator, matrix[:1], target_opset=OPSET, options=options)
    except Exception as err:  # skl2onnx raises many types for unsupported models
        raise InputError(f"skl2onnx could not convert {type(estimator).__name__}: {err}") from None
    data = onnx_model.SerializeToString()
    model = Model.load(data)
    outputs = model.predict(matrix)
    differing: List[str] = []
    for name, got in outputs.items():
        want = np.asarray(_expected(estimator, name)(matrix))
        got_rows = got.reshape(len(matrix), -1)
        want_rows = want.reshape(len(matrix), -1)
        if got_rows.shape != want_rows.shape:
            raise InputError(
                f"output `{name}` has shape {got.shape} from the converted model but {want.shape} from the estimator"
            )
        if got_rows.dtype.kind in "fc" or want_rows.dtype.kind in "fc":
            # NaN on one side only differs; NaN on both sides agrees.
            bad = ~np.isclose(
                got_rows.astype(np.float64), want_rows.astype(np.float64), rtol=0, atol=tolerance, equal_nan=True
            )
        else:
            bad = got_rows.astype(str) != want_rows.astype(str)
        for row in np.flatnonzero(bad.any(axis=1))[:10]:
            differing.append(
                f"row {row}: `{name}` is {got_rows[row].tolist()} converted, {want_rows[row].tolist()} in scikit-learn"
            )
    if differing:
        raise InputError(
            "the converted model does not answer as the estimator does (tolerance "
            f"{tolerance}); nothing was uploaded:\n  " + "\n  ".join(differing)
        )
    return data, f"scikit-learn {sklearn.__version__}"
