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


def _keys_and_env(e2e, tmp_path: Path) -> dict:
    # The demo's key layout (scripts/seed-demo.mjs): root.json and release.pk8.
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(Path(e2e["keys"]) / "root.json", keys / "root.json")
    shutil.copy(Path(e2e["keys"]) / "release1.pk8", keys / "release.pk8")
    return {
        **os.environ,
        "OUTPOST_URL": e2e["url"],
        "OUTPOST_ORG": e2e["org"],
        "OUTPOST_TOKEN": e2e["admin"],
        "OUTPOST_KEYS": str(keys),
    }


def _run_walkthrough(python: str, env: dict, where: Path) -> str:
    """Runs the README's block with ``python`` in ``where``; its version."""
    where.mkdir(exist_ok=True)
    script = where / "walkthrough.py"
    script.write_text(walkthrough())
    done = subprocess.run([python, str(script)], cwd=where, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{python}:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"drifted in the registry's report: .*'amount'", done.stdout), done.stdout
    registered = re.findall(r"registered card-anomaly@(\S+) ", done.stdout)
    assert len(registered) == 1, done.stdout
    return registered[0]


def test_the_readme_walkthrough_runs_unchanged(e2e, tmp_path):
    env = _keys_and_env(e2e, tmp_path)
    # A second run registers the next version: it can be run again.
    registered = [_run_walkthrough(sys.executable, env, tmp_path / f"run{run}") for run in (1, 2)]
    assert registered[0] != registered[1], registered


def test_a_fresh_virtualenv_with_the_built_wheel_runs_the_walkthrough(e2e, tmp_path):
    """What a user without this repository's .venv does: build the abi3
    wheel, ``pip install 'outpost-….whl[sklearn]'`` into a new virtualenv
    (the versions this suite runs with, as constraints) and run the
    walk-through unchanged with that interpreter."""
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--quiet", "--locked", "--profile", "dev", "--out", str(wheels),
         "-m", str(ROOT / "crates/outpost-py/Cargo.toml")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("outpost-*-abi3-*.whl")
    # The versions this suite runs with (dependencies of dependencies too),
    # as constraints: the fresh environment is the tested one.
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(line for line in frozen if not line.lower().startswith("outpost")) + "\n")
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True)
    python = str(fresh / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{wheel}[sklearn]",
         "-c", str(constraints)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = subprocess.run(
        [python, "-c", "import outpost; print(outpost.__file__)"], cwd=tmp_path, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(fresh)), f"the wheel's package, not the source tree: {where.stdout}{where.stderr}"
    _run_walkthrough(python, _keys_and_env(e2e, tmp_path), tmp_path / "run")
