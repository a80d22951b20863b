"""The registry client: ``outpost.Registry(url, org, token)``.

Every call is one request (or one paged listing) to the registry's JSON API
(``/openapi.json`` documents each); the registry decides — gates, roles,
versions — and a refusal is a ``ProblemError`` carrying its problem+json
fields. Anything decided on this side (digests, reference profiles, release
signatures) is the Rust core's code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _native
from ._http import Session, segment, setting
from .drift import reference_profile
from .errors import InputError, OutpostError

#: Artifacts larger than this go up in resumable parts (``POST /uploads``).
PART_SIZE = 16 << 20
#: How often signing a release is retried when another release lands first.
RELEASE_ATTEMPTS = 8

ModelSource = Union[str, Path, bytes, Any]


class Registry:
    """One organisation of an Outpost registry.

    ``url``, ``org`` and ``token`` default to ``OUTPOST_URL``,
    ``OUTPOST_ORG`` and ``OUTPOST_TOKEN``, as the CLI's. ``timeout`` is
    per request, in seconds; connection failures and 429/502/503/504
    answers to requests that are safe to repeat are retried ``retries``
    times (honouring ``Retry-After``). Use as a context manager, or call
    ``close()``.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        org: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.url = setting(url, "OUTPOST_URL", "registry URL")
        self.org = setting(org, "OUTPOST_ORG", "organisation")
        self._http = Session(
            self.url,
            self.org,
            setting(token, "OUTPOST_TOKEN", "token"),
            timeout=timeout,
            retries=retries,
        )

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- helpers -----------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.call(method, path, **kwargs)

    def _pages(self, path: str, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
        items: List[Dict[str, Any]] = []
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            page = self._call("GET", path, params=query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items
            query["cursor"] = cursor

    # --- organisation and models -------------------------------------------

    def whoami(self) -> Dict[str, Any]:
        """The calling token: its name, role and organisation."""
        return self._call("GET", "/whoami")

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Sequence[str] = (),
        owner: Optional[str] = None,
        primary_metric: Optional[Mapping[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Creates a model (developer role). ``primary_metric`` is
        ``{"name": "f1", "higher_is_better": True}``-shaped, as the API's."""
        body: Dict[str, Any] = {"name": name, "description": description, "tags": list(tags)}
        if owner is not None:
            body["owner"] = owner
        if primary_metric is not None:
            body["primary_metric"] = dict(primary_metric)
        return self._call("POST", "/models", json=body)

    def create_token(self, name: str, role: str) -> Dict[str, Any]:
        """Creates a token (admin role): ``role`` is ``viewer`` (devices),
        ``developer``, ``operator`` or ``admin``. The answer's ``token`` is
        the secret, shown this once."""
        return self._call("POST", "/tokens", json={"name": name, "role": role})

    def models(self) -> List[Dict[str, Any]]:
        """Every model of the organisation."""
        return self._pages("/models", {})

    def model(self, name: str) -> Dict[str, Any]:
        return self._call("GET", f"/models/{segment(name)}")

    # --- versions ----------------------------------------------------------

    def versions(self, model: str, **filters: Any) -> List[Dict[str, Any]]:
        """A model's versions, filtered as ``GET …/versions`` filters
        (``tag``, ``metric="f1>=0.9"``, ``format``, ``status``, ``q``,
        ``sort``, ``order``, …)."""
        return self._pages(f"/models/{segment(model)}/versions", filters)

    def version(self, model: str, version: str) -> Dict[str, Any]:
        return self._call("GET", f"/models/{segment(model)}/versions/{segment(version)}")

    def search(self, **filters: Any) -> List[Dict[str, Any]]:
        """Versions across the organisation (``q``, ``tag``, ``metric``,
        ``model``, …), as ``outpost search``."""
        return self._pages("/versions", filters)

    def compare(self, *versions: str, metrics: Optional[Sequence[str]] = None) -> Any:
        """Compares ``"model@version"`` references (2 to 20) on their
        metrics. Returns a pandas DataFrame (one row per version, the best
        per metric in ``.attrs["best"]``) when pandas is installed, else the
        API's ``{"metrics", "versions", "best"}``."""
        params: List[tuple] = [("v", v) for v in versions]
        params += [("metric", m) for m in metrics or ()]
        answer = self._call("GET", "/compare", params=params)
        try:
            import pandas as pd
        except ImportError:
            return answer
        frame = pd.DataFrame(
            [
                {"model": v["model"], "version": v["version"], "format": v["format"], **v["metrics"]}
                for v in answer["versions"]
            ]
        )
        frame.attrs["best"] = answer["best"]
        return frame

    def push(
        self,
        model_name: str,
        model: ModelSource,
        *,
        sample: Any = None,
        metrics: Optional[Mapping[str, float]] = None,
        params: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
        version: Optional[str] = None,
        bump: Optional[str] = None,
        parent: Optional[str] = None,
        notes: Optional[str] = None,
        dataset_version: Optional[str] = None,
        framework: Optional[str] = None,
        format: Optional[str] = None,
        tolerance: float = 1e-5,
    ) -> Dict[str, Any]:
        """Registers a new version of ``model_name`` and returns the
        registry's answer: the version record (``model``, ``version``,
        ``digest``, ``size``, ``format``, ``status``, …) and
        ``version_reason``, why it got that number.

        ``model`` is a file path or bytes (ONNX, safetensors, pickle/joblib —
        the registry inspects and scans it), or a fitted scikit-learn
        estimator or pipeline: converted to ONNX with skl2onnx (the
        ``outpost[sklearn]`` extra) and run by the core on ``sample`` first;
        if any output differs from the estimator's by more than
        ``tolerance``, ``InputError`` lists the differing rows and nothing is
        uploaded. ``sample`` (rows × features: a DataFrame, array or
        mapping) also becomes the version's reference profile for drift.
        Give ``version="1.2.0"`` or ``bump="major"|"minor"|"patch"|"auto"``.
        """
        if version is None and bump is None:
            raise InputError('give version="X.Y.Z" or bump="major"|"minor"|"patch"|"auto"')
        if isinstance(model, (str, Path)):
            try:
                data = Path(model).read_bytes()
            except OSError as err:
                raise InputError(f"reading {model}: {err}") from None
        elif isinstance(model, (bytes, bytearray)):
            data = bytes(model)
        else:
            from ._sklearn import convert

            if sample is None:
                raise InputError("pushing an estimator needs sample=: it is checked on those rows and profiled")
            data, detected = convert(model, sample, tolerance)
            framework = framework or detected
            format = format or "onnx"
        # The profile first: a bad sample stops the push with nothing registered.
        profile = reference_profile(sample) if sample is not None else None
        hasher = _native.Hasher()
        hasher.update(data)
        digest, size = hasher.finish()
        self._upload(data, digest, size)
        body: Dict[str, Any] = {
            "digest": digest,
            "size": size,
            "metrics": dict(metrics or {}),
            "params": dict(params or {}),
            "tags": list(tags or ()),
        }
        for key, value in (
            ("version", version),
            ("bump", bump),
            ("parent_version", parent),
            ("notes", notes),
            ("dataset_version", dataset_version),
            ("framework", framework),
            ("format", format),
        ):
            if value is not None:
                body[key] = value
        registered = self._call("POST", f"/models/{segment(model_name)}/versions", json=body)
        if profile is not None:
            number = registered["version"]
            try:
                self._call(
                    "PUT",
                    f"/models/{segment(model_name)}/versions/{segment(number)}/reference",
                    json=profile,
                )
            except OutpostError as err:
                raise OutpostError(
                    f"{model_name}@{number} is registered, but its reference profile was not stored ({err}); "
                    "store it with Registry.put_reference"
                ) from err
        return registered

    def put_reference(self, model: str, version: str, sample: Any) -> Dict[str, Any]:
        """Stores the reference profile of ``sample`` for a version."""
        return self._call(
            "PUT",
            f"/models/{segment(model)}/versions/{segment(version)}/reference",
            json=reference_profile(sample),
        )

    def reference(self, model: str, version: str) -> Dict[str, Any]:
        """The version's stored reference profile."""
        return self._call("GET", f"/models/{segment(model)}/versions/{segment(version)}/reference")

    def _upload(self, data: bytes, digest: str, size: int) -> None:
        hex_digest = digest.split(":", 1)[1]
        blob = self._http.org_path(f"/blobs/sha256/{hex_digest}")
        if self._http.send("HEAD", blob).status_code == 200:
            return
        if size <= PART_SIZE:
            self._call(
                "PUT",
                f"/blobs/sha256/{hex_digest}",
                content=data,
                headers={"content-type": "application/octet-stream", "x-outpost-size": str(size)},
            )
            return
        started = self._call("POST", "/uploads", json={"digest": digest, "size": size, "part_size": PART_SIZE})
        if "id" not in started:
            return  # the registry already had the bytes
        done = set(started.get("parts_done", []))
        for part in range(started["parts"]):
            if part in done:
                continue
            chunk = data[part * PART_SIZE : (part + 1) * PART_SIZE]
            hasher = _native.Hasher()
            hasher.update(chunk)
            self._call(
                "PUT",
                f"/uploads/{segment(started['id'])}/parts/{part}",
                content=chunk,
                headers={"x-outpost-part-sha256": hasher.finish()[0]},
            )
        self._call("POST", f"/uploads/{segment(started['id'])}/complete", json={})

    # --- stages ------------------------------------------------------------

    def promote(
        self, model: str, stage: str, version: str, *, reason: str = "", force: bool = False
    ) -> Dict[str, Any]:
        """Makes ``version`` the stage's stable version through the stage's
        gates (operator role); a refused gate is a ``ProblemError`` whose
        ``detail`` says which."""
        return self._call(
            "POST",
            f"/models/{segment(model)}/stages/{segment(stage)}/promote",
            json={"version": version, "reason": reason, "force": force},
        )

    def rollout(
        self,
        model: str,
        stage: str,
        *,
        stable: Optional[str] = None,
        canary: Optional[Mapping[str, Any]] = None,
        variants: Sequence[Mapping[str, Any]] = (),
        shadow: Optional[str] = None,
        guardrails: Optional[Mapping[str, Any]] = None,
        reason: str = "",
        force: bool = False,
    ) -> Dict[str, Any]:
        """Sets the stage's rollout: a canary ``{"version", "weight"}``, A/B
        ``variants``, a ``shadow`` version and ``guardrails`` (shapes as
        ``PUT …/rollout``)."""
        body: Dict[str, Any] = {"variants": [dict(v) for v in variants], "reason": reason, "force": force}
        if stable is not None:
            body["stable"] = stable
        if canary is not None:
            body["canary"] = dict(canary)
        if shadow is not None:
            body["shadow"] = shadow
        if guardrails is not None:
            body["guardrails"] = dict(guardrails)
        return self._call("PUT", f"/models/{segment(model)}/stages/{segment(stage)}/rollout", json=body)

    def clear_rollout(self, model: str, stage: str, *, reason: str = "") -> Any:
        return self._call(
            "DELETE", f"/models/{segment(model)}/stages/{segment(stage)}/rollout", params={"reason": reason}
        )

    def rollback(
        self, model: str, stage: str, *, version: Optional[str] = None, reason: str = ""
    ) -> Dict[str, Any]:
        """Returns the stage to its previous stable version (or ``version``)."""
        body: Dict[str, Any] = {"reason": reason}
        if version is not None:
            body["version"] = version
        return self._call("POST", f"/models/{segment(model)}/stages/{segment(stage)}/rollback", json=body)

    def stage(self, model: str, stage: str) -> Dict[str, Any]:
        return self._call("GET", f"/models/{segment(model)}/stages/{segment(stage)}")

    def history(self, model: str, stage: Optional[str] = None) -> List[Dict[str, Any]]:
        """The deployment history, newest first."""
        return self._pages(f"/models/{segment(model)}/history", {"stage": stage})

    # --- releases ----------------------------------------------------------

    def release_sign(
        self,
        model: str,
        versions: Union[str, Iterable[str]],
        keys: Union[str, Path, Sequence[Union[str, Path]]],
        *,
        expires_in_days: float = 90,
    ) -> Dict[str, Any]:
        """Adds versions to the organisation's signed release metadata, as
        ``outpost release sign``: the current release must carry a signature
        by one of ``keys`` (offline PKCS#8 files from ``outpost keys
        generate``), the new one is signed by all of them here and uploaded.
        Retried when another release lands first."""
        if not expires_in_days > 0:
            raise InputError(f"expires_in_days must be positive, got {expires_in_days}")
        versions = [versions] if isinstance(versions, str) else list(versions)
        paths = [keys] if isinstance(keys, (str, Path)) else list(keys)
        try:
            key_bytes = [Path(p).read_bytes() for p in paths]
        except OSError as err:
            raise InputError(f"reading a release key: {err}") from None
        additions = []
        for number in versions:
            record = self.version(model, number)
            additions.append((model, number, record["size"], record["digest"], record["format"]))
        expires = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in_days * 86400)
        )
        for _ in range(RELEASE_ATTEMPTS):
            response = self._http.send("GET", self._http.org_path("/trust/targets.json"))
            if response.status_code == 404:
                current = None
            elif response.is_success:
                current = response.content
            else:
                from ._http import problem

                raise problem(response)
            _version, signed = _native.sign_release(current, additions, key_bytes, expires)
            stored = self._http.send(
                "PUT",
                self._http.org_path("/trust/targets"),
                content=signed.encode(),
                headers={"content-type": "application/json"},
            )
            raced = stored.status_code == 409 or (
                stored.status_code == 422 and _code(stored) == "MIX_AND_MATCH"
            )
            if not raced:
                from ._http import decoded

                return decoded(stored)
        raise OutpostError("other releases kept landing while signing; try again")

    # --- monitoring --------------------------------------------------------

    def perf(
        self, model: str, since: Optional[int] = None, step: Optional[str] = None
    ) -> Dict[str, Any]:
        """Calls, errors and latency quantiles per version, stage and source
        (``since`` in ms since the epoch). With ``step`` (``"5m"``, ``"1h"``,
        ``"1d"``; needs ``since``, at most 720 buckets to now) the answer also
        holds ``series``: the same per bucket, each with its ``start_ms``.

        Raises:
            ProblemError: 422 for a step without since or too many buckets.
        """
        return self._call(
            "GET",
            f"/models/{segment(model)}/performance",
            params=_some(since=since, step=step),
        )

    def drift_report(
        self,
        model: str,
        version: str,
        *,
        window: Optional[str] = None,
        stage: Optional[str] = None,
        share: Optional[float] = None,
    ) -> Dict[str, Any]:
        """The registry's drift report of recent telemetry against the
        version's reference profile."""
        return self._call(
            "GET",
            f"/models/{segment(model)}/drift",
            params=_some(version=version, window=window, stage=stage, share=share),
        )

    def quality(
        self,
        model: str,
        version: str,
        *,
        window: Optional[str] = None,
        stage: Optional[str] = None,
        positive: Optional[str] = None,
        low: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Quality from labelled outcomes: accuracy, precision, recall, F1,
        ROC AUC, calibration and confidence for one version and window."""
        return self._call(
            "GET",
            f"/models/{segment(model)}/quality",
            params=_some(version=version, window=window, stage=stage, positive=positive, low=low),
        )

    def feedback(self, model: str, outcomes: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """Outcomes (``{"prediction_id", "label", "value"?}``) for predictions
        the Worker made; idempotent by prediction id."""
        return self._call(
            "POST", f"/models/{segment(model)}/feedback", json={"outcomes": [dict(o) for o in outcomes]}
        )


def _some(**params: Any) -> Dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _code(response: Any) -> Optional[str]:
    try:
        return json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        return None
