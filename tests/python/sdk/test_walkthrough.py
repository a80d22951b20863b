"""The README's Python walk-through, run exactly as written (the block
between ``walkthrough:begin`` and ``walkthrough:end``) against the
end-to-end Worker, as a user would run it against ``scripts/dev.sh``'s."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:begin -->\n```python\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S)
    assert block, "README.md has no Python walk-through between its markers"
    return block.group(1)


def test_the_readme_walkthrough_runs_unchanged(e2e, tmp_path):
    # The demo's key layout (scripts/seed-demo.mjs): root.json and release.pk8.
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(Path(e2e["keys"]) / "root.json", keys / "root.json")
    shutil.copy(Path(e2e["keys"]) / "release1.pk8", keys / "release.pk8")
    script = tmp_path / "walkthrough.py"
    script.write_text(walkthrough())
    env = {
        **os.environ,
        "OUTPOST_URL": e2e["url"],
        "OUTPOST_ORG": e2e["org"],
        "OUTPOST_TOKEN": e2e["admin"],
        "OUTPOST_KEYS": str(keys),
    }
    registered = []
    for run in (1, 2):  # a second run registers the next version: it can be run again
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"run {run}:\n{done.stdout}\n{done.stderr}"
        registered += re.findall(r"registered card-anomaly@(\S+) ", done.stdout)
        assert re.search(r"drifted in the registry's report: .*'amount'", done.stdout), done.stdout
    assert len(registered) == 2 and registered[0] != registered[1], registered
