"""The exceptions every part of the SDK raises: one hierarchy to catch.

``OutpostError`` is the base. The registry's refusals are ``ProblemError``
(RFC 9457 problem details, with every field the registry sent); the device's
refusals are ``TrustError`` with the stable code the CLI and the wasm client
print; bad arguments are ``InputError`` (also a ``ValueError``); a model that
cannot be loaded or run is ``ModelError``.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional


class OutpostError(Exception):
    """Base class of every error the SDK raises."""


class TransportError(OutpostError):
    """The registry could not be reached or answered with something that is
    not an answer (a timeout, a refused connection, a body that is not JSON
    or is larger than the client accepts)."""


class InputError(OutpostError, ValueError):
    """An argument was refused before anything was sent or run."""


class ModelError(OutpostError):
    """A model could not be loaded or run.

    ``stage`` says how far it got: ``parse``, ``validate``, ``optimise``,
    ``plan`` (loading) or ``run``.
    """

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"the model failed at {stage}: {message}")
        self.stage = stage
        self.message = message


class TrustError(OutpostError):
    """A device-side check refused what the registry sent.

    ``code`` is stable (``SIGNATURE_THRESHOLD``, ``EXPIRED``, ``ROLLBACK``,
    ``NOT_RELEASED``, ``LENGTH_MISMATCH``, ``DIGEST_MISMATCH``, …) and
    ``step`` names the check (``timestamp``, ``the resolution``, ``the
    artifact``, …). Nothing was installed; the previous model is untouched.
    """

    def __init__(self, code: str, step: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.step = step


class ProblemError(OutpostError):
    """The registry answered with an RFC 9457 problem (or a non-2xx status).

    ``status``, ``title``, ``detail``, ``type`` and ``code`` (Outpost's
    stable code, when the problem carries one) are attributes;
    ``problem`` holds every field as sent.
    """

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        code = problem.get("code")
        self.code: Optional[str] = str(code) if code is not None else None
        summary = self.detail or self.title or f"HTTP {status}"
        super().__init__(f"{status} {self.title}: {summary}" if self.title else summary)
