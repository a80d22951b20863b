"""Shared fixtures of the Python SDK's tests.

The local tests need only the built package (``maturin develop``, which
``scripts/test.sh`` runs). The registry tests need a running Worker: the
Rust end-to-end suite ``tests/e2e/tests/python_sdk.rs`` starts one with
real D1 and R2, makes an organisation and its release keys, and runs this
directory with ``OUTPOST_SDK_E2E`` describing them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def e2e() -> dict:
    """The running registry: ``url``, ``org``, ``admin``/``viewer`` tokens,
    ``keys`` (the folder with ``root.json`` and ``release1.pk8``), the
    ``tampered`` and ``endless`` proxies and the ``outpost`` binary."""
    description = os.environ.get("OUTPOST_SDK_E2E")
    if not description:
        pytest.fail(
            "OUTPOST_SDK_E2E is not set: these tests run from `cargo test -p outpost-e2e --test python_sdk`"
        )
    return json.loads(description)
