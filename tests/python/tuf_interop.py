"""Drives python-tuf's ngclient, the reference TUF client, against an
Outpost organisation's repository: refresh the metadata from a pinned root,
then download one target. Prints the downloaded file as JSON on success; on
any refusal prints the exception's class name and message to stderr and
exits 1, so the calling test can assert which check fired.

Usage: tuf_interop.py BASE ORG TOKEN ROOT_JSON TARGET OUT_DIR
"""

import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator

from tuf.api import exceptions
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface


class BearerFetcher(FetcherInterface):
    """Outpost's trust files are per organisation, behind a viewer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def _fetch(self, url: str) -> Iterator[bytes]:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            raise exceptions.DownloadHTTPError(str(error), error.code) from error

        def chunks() -> Iterator[bytes]:
            with response:
                while chunk := response.read(1 << 16):
                    yield chunk

        return chunks()


def main() -> int:
    base, org, token, root_path, target, out_dir = sys.argv[1:7]
    repo = f"{base.rstrip('/')}/v1/orgs/{org}/trust"
    with open(root_path, "rb") as f:
        root = f.read()
    with tempfile.TemporaryDirectory() as metadata_dir:
        try:
            updater = Updater(
                metadata_dir=metadata_dir,
                metadata_base_url=f"{repo}/",
                target_dir=out_dir,
                target_base_url=f"{repo}/targets/",
                fetcher=BearerFetcher(token),
                bootstrap=root,
            )
            updater.refresh()
            info = updater.get_targetinfo(target)
            if info is None:
                print(f"TargetNotFound: {target} is not in the release metadata", file=sys.stderr)
                return 1
            path = updater.download_target(info, os.path.join(out_dir, target.replace("/", "_")))
        except Exception as error:  # every refusal, reported by name
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            return 1
    with open(path, "rb") as f:
        data = f.read()
    print(json.dumps({"path": path, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
