"""The device client: ``outpost.Device(url, org, root="root.json",
state="DIR", device_id=...)``.

``pull`` is ``outpost pull ORG/MODEL@STAGE``: the Rust core's TUF refresh
(root rotations → timestamp → snapshot → release metadata, each checked for
signature thresholds, expiry and rollback) from the pinned root or the
saved state, then the director's signed resolution for exactly this
device's question, then the bytes against the signed digest and length,
streamed into a temporary file and renamed into place only when they match.
Any refusal raises ``TrustError`` with the code the CLI and the wasm client
print, and leaves the previous model and the saved state as they were.

The state directory holds the same ``trusted.json`` and ``installed.json``
as the CLI's ``--state``, so ``outpost verify`` checks a model this client
installed, and the reverse.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Union

try:  # POSIX: one pull at a time per state folder
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from . import _native
from ._http import Session, problem, segment, setting
from .errors import InputError, ProblemError
from .model import Model

TRUSTED = "trusted.json"
INSTALLED = "installed.json"
CHUNK = 1 << 16


@dataclass(frozen=True)
class Installed:
    """A verified, installed model."""

    org: str
    model: str
    stage: str
    version: str
    digest: str
    length: int
    resolution_version: int
    path: Path


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(out.name, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Makes a rename in ``folder`` durable (POSIX)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _window_id(device: str) -> str:
    """A window id the registry accepts (1 to 64 of ``[A-Za-z0-9._:-]``):
    the device's name, cleaned and cut, then a random part."""
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", device or "device")[:28] or "device"
    return f"{prefix}:{uuid.uuid4().hex}"


def _file_name(text: str) -> str:
    """A model or stage name as one safe file-name component."""
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02X}" for c in text).lstrip(".") or "_"


class Device:
    """A device of one organisation, with its pinned root and state folder.

    ``url``, ``org`` and ``token`` default to ``OUTPOST_URL``,
    ``OUTPOST_ORG`` and ``OUTPOST_TOKEN`` (devices use a viewer token).
    ``root`` is the pinned root metadata file; it may be omitted once
    ``state`` holds a trusted state. ``device_id`` places the device in a
    rollout's arms (sticky); empty means no rollout arm.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        org: Optional[str] = None,
        *,
        root: Optional[Union[str, Path]] = None,
        state: Union[str, Path] = ".outpost",
        device_id: str = "",
        token: Optional[str] = None,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.org = setting(org, "OUTPOST_ORG", "organisation")
        self.root = Path(root) if root is not None else None
        self.state_dir = Path(state)
        self.device_id = device_id
        self._http = Session(
            setting(url, "OUTPOST_URL", "registry URL"),
            self.org,
            token if token is not None else os.environ.get("OUTPOST_TOKEN"),
            timeout=timeout,
            retries=retries,
        )

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- state -------------------------------------------------------------

    def _saved(self) -> Optional[_native.TrustedState]:
        path = self.state_dir / TRUSTED
        if not path.exists():
            return None
        return _native.TrustedState.from_json(path.read_text())

    def _save(self, state: _native.TrustedState) -> None:
        _write_atomically(self.state_dir / TRUSTED, state.to_json())

    def _pinned(self) -> Optional[bytes]:
        if self.root is None:
            return None
        try:
            return self.root.read_bytes()
        except OSError as err:
            raise InputError(f"reading the pinned root {self.root}: {err}") from None

    def _installed(self) -> Dict[str, Any]:
        path = self.state_dir / INSTALLED
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except ValueError:
            raise InputError(f"{path} is corrupt; pull the model again to rebuild it") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One pull at a time per state folder (``STATE/.lock``), so two
        processes never interleave their state and ``installed.json``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    # --- the refresh ---------------------------------------------------------

    def _fetch_trust(self, file: str) -> Optional[bytes]:
        response = self._http.send("GET", self._http.org_path(f"/trust/{file}"))
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise problem(response)
        return response.content

    def refresh(self) -> _native.TrustedState:
        """TUF 5.3–5.6 through the core's updater; saves the state only when
        the whole refresh verified. Raises ``TrustError``."""
        saved = self._saved()
        pinned = self._pinned()
        if saved is None and pinned is None:
            raise InputError(f"no trusted state in {self.state_dir} yet: give the pinned root with root=")
        updater = _native.Updater(pinned, saved, _now_ms())
        while True:
            request = updater.next_file()
            if request is None:
                break
            updater.offer(self._fetch_trust(request[0]))
        state = updater.finish()
        self._save(state)
        return state

    # --- pull, load, verify ----------------------------------------------------

    def pull(
        self, model: str, stage: str = "production", *, output: Optional[Union[str, Path]] = None
    ) -> Installed:
        """Refreshes trust, asks the director which version this device
        runs at ``stage``, and installs that artifact at ``output`` (default
        ``STATE/models/MODEL@STAGE``) once its digest and length match the
        release. Raises ``TrustError`` (nothing installed), ``ProblemError``
        (the registry refused the request), ``TransportError``."""
        with self._locked():
            return self._pull(model, stage, output)

    def _pull(self, model: str, stage: str, output: Optional[Union[str, Path]]) -> Installed:
        state = self.refresh()
        params = {"stage": stage}
        if self.device_id:
            params["device"] = self.device_id
        response = self._http.send(
            "GET", self._http.org_path(f"/models/{segment(model)}/resolve"), params=params
        )
        if not response.is_success:
            raise problem(response)
        verified = state.verify_resolution(
            response.content, self.org, model, stage, self.device_id, _now_ms()
        )
        self._save(state)
        target = (
            Path(output)
            if output is not None
            else self.state_dir / "models" / f"{_file_name(model)}@{_file_name(stage)}"
        )
        self._download(verified, target)
        records = self._installed()
        records[str(target.resolve())] = json.loads(verified.to_json())
        _write_atomically(self.state_dir / INSTALLED, json.dumps(records, indent=2))
        return self._installed_from(verified, target)

    def _download(self, verified: _native.VerifiedResolution, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        check = verified.artifact_check()
        # A file of its own beside the target: what is renamed into place is
        # exactly what was hashed, whoever else writes there.
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".outpost-partial")
        partial = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                with self._http.stream(f"/blobs/sha256/{verified.digest.split(':', 1)[1]}") as response:
                    if not response.is_success:
                        response.read()
                        raise problem(response)
                    for chunk in response.iter_bytes(CHUNK):
                        check.update(chunk)
                        out.write(chunk)
                check.finish()
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
            _fsync_dir(target.parent)
        finally:
            if partial.exists():
                partial.unlink()

    def load(self, model: str, stage: str = "production", *, pull: bool = True) -> Model:
        """Pulls (as ``pull``) and loads the model for inference. When the
        version has a reference profile, the model records its inputs over
        the profile's bins, for ``report``.

        ``pull=False`` starts offline: the model installed last at
        ``STATE/models/MODEL@STAGE`` is re-verified (``verify``) and loaded,
        without a request."""
        if not pull:
            path = self.state_dir / "models" / f"{_file_name(model)}@{_file_name(stage)}"
            loaded = Model.load(path)
            loaded.installed = self.verify(path)
            return loaded
        installed = self.pull(model, stage)
        loaded = Model.load(installed.path)
        loaded.installed = installed
        response = self._http.send(
            "GET",
            self._http.org_path(
                f"/models/{segment(model)}/versions/{segment(installed.version)}/reference"
            ),
        )
        if response.is_success:
            loaded.set_reference_profile(response.json())
        elif response.status_code != 404:
            raise problem(response)
        return loaded

    def report(self, model: Model) -> Dict[str, Any]:
        """Sends ``model``'s telemetry window since its last report to the
        registry (``POST …/telemetry``), for the version and stage it was
        installed from; returns the window sent. A window that cannot be
        sent is dropped (the exception says why); the next one starts
        fresh, as telemetry is a sample."""
        if model.installed is None:
            raise InputError("report needs a model from Device.load (it names the version and stage)")
        window = model.report()
        installed = model.installed
        self._http.call(
            "POST",
            f"/models/{segment(installed.model)}/telemetry",
            json={"version": installed.version, "stage": installed.stage, "window": window},
        )
        return window

    def report_outcomes(self, model: Model) -> Dict[str, Any]:
        """Sends the outcomes ``model`` recorded (``Model.record_outcomes``)
        to the registry (``POST …/outcomes``) for the version and stage it
        was installed from, under a window id of its own: the registry
        counts each id once, so a report that failed is sent again, under
        the same id, by the next call — never counted twice. Returns the
        registry's answer (``stored``, ``outcomes``)."""
        if model.installed is None:
            raise InputError("report_outcomes needs a model from Device.load (it names the version and stage)")
        installed = model.installed
        with model._reporting:
            if model.pending_outcomes is None:
                model.pending_outcomes = (_window_id(self.device_id), model.take_outcomes())
            window_id, window = model.pending_outcomes
            try:
                answer = self._http.call(
                    "POST",
                    f"/models/{segment(installed.model)}/outcomes",
                    json={"version": installed.version, "stage": installed.stage, "id": window_id, "window": window},
                )
            except ProblemError as err:
                # Kept for a retry only when a retry can succeed; a refusal
                # (bad window, unknown version) would block every later one.
                if err.status < 500 and err.status != 429:
                    model.pending_outcomes = None
                raise
            model.pending_outcomes = None
            return answer

    def verify(self, path: Union[str, Path]) -> Installed:
        """Re-checks an installed file offline against the resolution it was
        installed from and the trusted state (``outpost verify``)."""
        target = Path(path).resolve()
        state = self._saved()
        if state is None:
            raise InputError(f"no trusted state in {self.state_dir}: pull the model first")
        pinned = self._pinned()
        if pinned is not None:
            state.descends_from(pinned)
        record = self._installed().get(str(target))
        if record is None:
            raise InputError(f"{path} was not installed with the state in {self.state_dir}")
        verified = state.verify_installed(json.dumps(record).encode(), target)
        return self._installed_from(verified, target)

    @staticmethod
    def _installed_from(verified: _native.VerifiedResolution, path: Path) -> Installed:
        return Installed(
            org=verified.org,
            model=verified.model,
            stage=verified.stage,
            version=verified.version,
            digest=verified.digest,
            length=verified.length,
            resolution_version=verified.resolution_version,
            path=Path(path),
        )

