#!/usr/bin/env python3
"""Replaces one part's section of docs/benchmarks.md (between
<!-- bench:NAME --> and <!-- /bench:NAME -->) with the contents of FILE,
appending it when the document has none yet, so that the parts of
scripts/bench.sh can run alone without erasing each other's results.

    scripts/bench-section.py NAME FILE
"""

import datetime
import os
import pathlib
import re
import sys

HEADER = """# Benchmarks

Written by `scripts/bench.sh` on this machine, every figure beside a peer measured in the same
run. Machines here are shared and noisy: read the ratios, not the absolute numbers, and re-run
before drawing conclusions. Each section says when and where it was measured.
"""


def main():
    name, source = sys.argv[1], pathlib.Path(sys.argv[2])
    doc = pathlib.Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    today = datetime.date.today().isoformat()
    body = (
        f"<!-- bench:{name} -->\n"
        f"_Measured {today} on {os.cpu_count()} cores ({cpu})._\n\n"
        f"{source.read_text().strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    text = doc.read_text() if doc.exists() else ""
    if "<!-- bench:" not in text:
        text = HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    doc.write_text(text if text.endswith("\n") else text + "\n")
    print(f"bench: wrote the {name} section of {doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
