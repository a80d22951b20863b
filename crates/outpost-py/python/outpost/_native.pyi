"""Types of ``outpost._native`` (crates/outpost-py/src): the Rust core's
digests, trust checks, release signing, profiles, drift and inference.
Errors are raised as ``outpost.errors`` classes."""

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

Cells = Union[Sequence[float], Sequence[Optional[str]]]
TensorIn = Tuple[str, str, Sequence[int], Union[bytes, Sequence[str]]]
TensorOut = Tuple[str, str, List[int], Union[bytes, List[str]]]

class Hasher:
    """SHA-256 of a stream, counting its bytes."""

    def __init__(self) -> None: ...
    def update(self, chunk: bytes) -> None: ...
    def finish(self) -> Tuple[str, int]:
        """``("sha256:<hex>", length)``."""

class Model:
    @staticmethod
    def load(data: bytes) -> "Model":
        """Raises ``ModelError(stage, message)``."""
    @property
    def inputs(self) -> List[Tuple[str, str, List[Union[int, str]]]]: ...
    @property
    def output_names(self) -> List[str]: ...
    def run(self, inputs: Sequence[TensorIn]) -> List[TensorOut]:
        """Numeric data as little-endian bytes, strings as lists. Raises
        ``InputError`` (naming the input) or ``ModelError`` at ``run``."""
    def set_reference_profile(self, profile: str) -> None: ...
    def record_outcomes(self, outputs: str, actual: str, values: Optional[Sequence[float]] = None) -> None:
        """`actual` is a JSON array of labels, one per row."""
    def take_outcomes(self) -> str: ...
    def report(self) -> str:
        """The telemetry window since the last report, as JSON."""

class TrustedState:
    @staticmethod
    def from_json(text: str) -> "TrustedState": ...
    def to_json(self) -> str: ...
    @property
    def root_version(self) -> int: ...
    @property
    def release_version(self) -> Optional[int]: ...
    def descends_from(self, pinned: bytes) -> None: ...
    def verify_resolution(
        self, resolution: bytes, org: str, model: str, stage: str, device: str, now_ms: int
    ) -> "VerifiedResolution": ...
    def verify_installed(self, resolution: bytes, path: Union[str, Path]) -> "VerifiedResolution": ...

class Updater:
    def __init__(self, pinned: Optional[bytes], saved: Optional[TrustedState], now_ms: int) -> None: ...
    def next_file(self) -> Optional[Tuple[str, bool]]:
        """``(file, optional)``, or ``None`` when the refresh is done."""
    def offer(self, data: Optional[bytes]) -> None: ...
    def finish(self) -> TrustedState: ...

class VerifiedResolution:
    @property
    def org(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def length(self) -> int: ...
    @property
    def resolution_version(self) -> int: ...
    def to_json(self) -> str: ...
    def artifact_check(self) -> "ArtifactCheck": ...

class ArtifactCheck:
    def update(self, chunk: bytes) -> None:
        """Raises ``TrustError`` (``LENGTH_MISMATCH``) past the signed length."""
    def finish(self) -> None:
        """Raises ``TrustError`` unless the bytes were the signed artifact."""

def reference_profile(columns: Sequence[Tuple[str, Sequence[str]]]) -> str: ...
def drift_compare(
    reference: Sequence[Tuple[str, Cells]], current: Sequence[Tuple[str, Cells]], share: float = 0.5
) -> str: ...
def sign_release(
    current: Optional[bytes],
    additions: Sequence[Tuple[str, str, int, str, str]],
    keys: Sequence[bytes],
    expires: str,
) -> Tuple[int, str]:
    """``(release version, signed targets metadata as JSON)``."""
