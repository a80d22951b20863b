"""The registry's HTTP API through httpx: authentication, timeouts, retries
on connection failures and on 429/502/503/504 for requests that are safe to
repeat, problem+json as ``ProblemError``, and the D1 Sessions bookmark
carried from answer to request so a client reads its own writes."""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional
from urllib.parse import quote

import httpx

from .errors import InputError, ProblemError, TransportError

BOOKMARK_HEADER = "x-outpost-d1-bookmark"
RETRIED_STATUSES = {429, 502, 503, 504}
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE"}
#: The largest answer read whole (trust metadata, resolutions, problems), as
#: the CLI's limit: an endless or huge answer is refused, not buffered.
MAX_ANSWER = 64 << 20


def setting(value: Optional[str], variable: str, what: str) -> str:
    """An explicit argument, else the environment variable the CLI reads."""
    found = value if value is not None else os.environ.get(variable)
    if not found:
        raise InputError(f"no {what}: pass it, or set {variable}")
    return found


def segment(text: str) -> str:
    """One path segment, percent-encoded (model names may hold any text)."""
    return quote(text, safe="")


class Session:
    """One organisation's API under ``/v1/orgs/{org}``."""

    def __init__(
        self,
        url: str,
        org: str,
        token: Optional[str],
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.base = url.rstrip("/")
        self.org = org
        self.retries = retries
        headers = {"user-agent": "outpost-python/0.1"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.base,
            headers=headers,
            timeout=timeout,
            transport=transport or httpx.HTTPTransport(retries=retries),
        )
        self.bookmark: Optional[str] = None

    def close(self) -> None:
        self.client.close()

    def org_path(self, path: str) -> str:
        return f"/v1/orgs/{segment(self.org)}{path}"

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        content: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> httpx.Response:
        """Sends one request (retrying what is safe to retry) and returns
        the response whatever its status."""
        extra = dict(headers or {})
        if self.bookmark:
            extra[BOOKMARK_HEADER] = self.bookmark
        attempt = 0
        while True:
            response = self._capped(
                method, path, params=params, json=json, content=content, headers=extra
            )
            if (
                response.status_code in RETRIED_STATUSES
                and method in IDEMPOTENT
                and attempt < self.retries
            ):
                attempt += 1
                time.sleep(retry_after(response, attempt))
                continue
            bookmark = response.headers.get(BOOKMARK_HEADER)
            if bookmark:
                self.bookmark = bookmark
            return response

    def _capped(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, its body read up to ``MAX_ANSWER`` bytes; transport
        failures become ``TransportError``."""
        try:
            with self.client.stream(method, path, **kwargs) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER:
                        raise TransportError(
                            f"{method} {path}: the answer is larger than {MAX_ANSWER >> 20} MiB; refusing it"
                        )
                # The body is decoded already: drop the headers that say
                # how it travelled, or httpx would decode it again.
                headers = [
                    (k, v)
                    for k, v in response.headers.multi_items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
                ]
                return httpx.Response(
                    response.status_code,
                    headers=headers,
                    content=bytes(body),
                    request=response.request,
                )
        except httpx.HTTPError as err:
            raise TransportError(f"{method} {self.base}{path}: {err}") from None

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Sends a request to the organisation's API and returns its JSON
        body; raises ``ProblemError`` for any non-2xx answer."""
        response = self.send(method, self.org_path(path), **kwargs)
        return decoded(response)

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """A streaming GET of an organisation path (for downloads); transport
        failures become ``TransportError``."""
        extra = {BOOKMARK_HEADER: self.bookmark} if self.bookmark else {}
        try:
            with self.client.stream("GET", self.org_path(path), headers=extra) as response:
                yield response
        except httpx.HTTPError as err:
            raise TransportError(f"GET {self.base}{self.org_path(path)}: {err}") from None


def retry_after(response: httpx.Response, attempt: int) -> float:
    """The server's Retry-After (seconds, capped at 10), else exponential
    back-off from 0.2 s."""
    header = response.headers.get("retry-after", "")
    try:
        seconds = float(header)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds) and seconds >= 0:
        return min(seconds, 10.0)
    return min(0.2 * 2 ** (attempt - 1), 5.0)


def decoded(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response, or ``ProblemError``."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransportError(
                f"{response.request.method} {response.request.url}: the answer is not JSON"
            ) from None
    raise problem(response)


def problem(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    return ProblemError(response.status_code, body)
