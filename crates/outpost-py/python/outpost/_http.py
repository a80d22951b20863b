"""The registry's HTTP API through httpx: authentication, timeouts, retries
on connection failures and on 429/502/503/504 for requests that are safe to
repeat, problem+json as ``ProblemError``, and the D1 Sessions bookmark
carried from answer to request so a client reads its own writes."""

from __future__ import annotations

import os
import time
from typing import Any, Iterator, Mapping, Optional
from urllib.parse import quote

import httpx

from .errors import InputError, ProblemError

BOOKMARK_HEADER = "x-outpost-d1-bookmark"
RETRIED_STATUSES = {429, 502, 503, 504}
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE"}


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
            response = self.client.request(
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

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Sends a request to the organisation's API and returns its JSON
        body; raises ``ProblemError`` for any non-2xx answer."""
        response = self.send(method, self.org_path(path), **kwargs)
        return decoded(response)

    def stream(self, path: str) -> Iterator[httpx.Response]:
        """A streaming GET of an organisation path (for downloads)."""
        extra = {BOOKMARK_HEADER: self.bookmark} if self.bookmark else {}
        return self.client.stream("GET", self.org_path(path), headers=extra)


def retry_after(response: httpx.Response, attempt: int) -> float:
    """The server's Retry-After (seconds, capped at 10), else exponential
    back-off from 0.2 s."""
    header = response.headers.get("retry-after", "")
    try:
        return min(float(header), 10.0)
    except ValueError:
        return min(0.2 * 2 ** (attempt - 1), 5.0)


def decoded(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response, or ``ProblemError``."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
    raise problem(response)


def problem(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    return ProblemError(response.status_code, body)
