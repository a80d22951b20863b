"""Drift between two samples with the Rust core's tests
(``outpost_core::drift``, Evidently's defaults: KS or chi-square/Z below
1 000 rows, Wasserstein or Jensen–Shannon above), the same verdicts as
``outpost drift compare`` and the registry's drift reports.

``reference`` and ``current`` are pandas DataFrames (features by column
name), numpy arrays (features by column index, named ``"0"``, ``"1"``, …)
or ``{name: values}`` mappings. Numeric columns are compared as numbers with
missing values (NaN) dropped; text columns as the CLI types a CSV column
(numbers when every present cell is one, categories otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from . import _native
from .errors import InputError


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's verdict. ``score`` is the p-value for ``ks``,
    ``chi_square`` and ``z_test`` (drift below ``threshold``), the distance
    for the others (drift at or above it)."""

    feature: str
    type: str
    test: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    """Every feature's verdict (reference order) and the dataset's: drifted
    when at least ``share_threshold`` of the features drifted."""

    features: List[FeatureDrift]
    drifted_features: int
    share: float
    share_threshold: float
    drifted: bool

    def to_frame(self):
        """The features as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame([f.__dict__ for f in self.features])


Sample = Union[Any, np.ndarray, Mapping[str, Sequence]]


def compare(reference: Sample, current: Sample, *, share: float = 0.5) -> DriftResult:
    """Tests each feature of ``current`` against the same feature of
    ``reference``. Raises ``InputError`` naming a feature that is missing,
    empty or cannot be tested."""
    answer = json.loads(_native.drift_compare(columns(reference), columns(current), share))
    dataset = answer["dataset"]
    return DriftResult(
        features=[FeatureDrift(**f) for f in answer["features"]],
        drifted_features=dataset["drifted_features"],
        share=dataset["share"],
        share_threshold=share,
        drifted=dataset["drifted"],
    )


def _arrays(sample: Sample) -> List[Tuple[str, np.ndarray]]:
    """The sample's named columns as numpy arrays."""
    if hasattr(sample, "columns") and hasattr(sample, "dtypes"):  # a DataFrame
        return [(str(name), sample[name].to_numpy()) for name in sample.columns]
    if isinstance(sample, Mapping):
        return [(str(name), np.asarray(values)) for name, values in sample.items()]
    array = np.asarray(sample)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InputError(f"a sample must be 2-dimensional (rows × features), got {array.ndim} dimensions")
    return [(str(i), array[:, i]) for i in range(array.shape[1])]


def columns(sample: Sample) -> List[Tuple[str, List[Any]]]:
    """``[(name, values)]``: floats (NaN for missing) for numeric columns,
    ``str``/``None`` cells otherwise."""
    return [(name, _cells(values)) for name, values in _arrays(sample)]


def _cells(values: np.ndarray) -> List[Any]:
    """Numbers as floats (NaN missing); everything else, booleans included,
    as text cells with missing values (None, NaN, pandas' NA and NaT) as
    None — the CLI reads ``True``/``False`` in a CSV as categories too."""
    if values.dtype.kind in "iuf":
        return values.astype(np.float64).tolist()
    return [None if _missing(v) else str(v) for v in values.tolist()]


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    # pandas' NA and NaT, without importing pandas.
    return type(value).__name__ in ("NAType", "NaTType")


def profile_columns(sample: Sample) -> List[Tuple[str, List[str]]]:
    """Text cells per named column, as ``outpost push --reference`` reads a
    CSV: what the core profiles (``repr`` of a float round-trips exactly)."""
    out = []
    for name, values in _arrays(sample):
        if values.dtype.kind == "f":
            # The shortest text that reads back as the same value of the
            # column's own width: what pandas writes to a CSV.
            cells = ["" if v != v else str(v) for v in values]
        elif values.dtype.kind in "iu":
            cells = [str(int(v)) for v in values]
        else:
            cells = ["" if _missing(v) else str(v) for v in values.tolist()]
        out.append((name, cells))
    return out


def reference_profile(sample: Sample) -> Dict[str, Any]:
    """The reference profile the registry keeps for drift reports, made by
    the core from ``sample`` (as ``outpost push --reference`` makes it).
    Raises ``InputError`` when the sample cannot be profiled."""
    return json.loads(_native.reference_profile(profile_columns(sample)))


__all__ = ["compare", "reference_profile", "DriftResult", "FeatureDrift"]
