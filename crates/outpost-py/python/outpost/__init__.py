"""Outpost's Python SDK.

- ``Registry``: register versions (files or fitted scikit-learn estimators,
  checked before upload, with a reference profile for drift), search,
  compare, promote, roll out, roll back, sign releases, read performance,
  drift and quality.
- ``Device``: pull a model with every trust check (TUF refresh, the
  director's resolution, digest and length), install it atomically, load it
  and predict on numpy arrays.
- ``drift.compare``: drift between DataFrames or arrays.

Every decision is the Rust core's (``outpost._native``: outpost-core and
outpost-infer, the code the CLI, the Worker and the wasm client run).
"""

from . import drift
from .device import Device, Installed
from .errors import InputError, ModelError, OutpostError, ProblemError, TransportError, TrustError
from .model import Model
from .registry import Registry

__all__ = [
    "Device",
    "Installed",
    "InputError",
    "Model",
    "ModelError",
    "OutpostError",
    "ProblemError",
    "Registry",
    "TransportError",
    "TrustError",
    "drift",
]
__version__ = "0.1.0"
