#!/usr/bin/env python3
"""The scipy side of the drift part of scripts/bench.sh.

    bench-drift.py generate DATA.json   writes 20 features x 10 000 reference
                                        and 10 000 current values (seeded)
    bench-drift.py time DATA.json [RUNS] times scipy computing, per feature,
                                        ks_2samp (exact p-value), normed
                                        wasserstein_distance, and PSI, KL
                                        (scipy.stats.entropy) and Jensen-Shannon
                                        (scipy.spatial.distance.jensenshannon)
                                        over Evidently's binning; prints the
                                        median seconds per report and the values
"""

import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance

FEATURES = 20
SAMPLES = 10_000


def generate(path):
    rng = np.random.default_rng(2026)
    features = []
    for i in range(FEATURES):
        kind = i % 5
        shift = 0.05 * (i % 4)  # some features drift a little, some not
        if kind == 0:
            ref, cur = rng.normal(0, 1, SAMPLES), rng.normal(shift, 1, SAMPLES)
        elif kind == 1:
            ref, cur = rng.lognormal(3, 1, SAMPLES), rng.lognormal(3 + shift, 1, SAMPLES)
        elif kind == 2:
            ref, cur = rng.exponential(5, SAMPLES), rng.exponential(5 * (1 + shift), SAMPLES)
        elif kind == 3:  # ties: small integers
            ref, cur = rng.integers(0, 24, SAMPLES).astype(float), rng.integers(0, 24 + int(10 * shift), SAMPLES).astype(float)
        else:
            ref, cur = rng.uniform(0, 1, SAMPLES), rng.uniform(shift, 1 + shift, SAMPLES)
        features.append({"reference": ref.tolist(), "current": cur.tolist()})
    with open(path, "w") as out:
        json.dump({"features": features}, out)


def _reference_script():
    """scripts/gen-drift-vectors.py, whose Evidently binning and PSI the
    reference values were made with: the benchmark measures the same code."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent / "gen-drift-vectors.py"
    spec = importlib.util.spec_from_file_location("gen_drift_vectors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_script()


def report(features):
    out = []
    for reference, current in features:
        ks = stats.ks_2samp(reference, current)
        wd = stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)
        ref, cur = REFERENCE.evidently_binned(reference, current)
        psi = REFERENCE.psi(ref, cur)
        kl = float(stats.entropy(ref, cur))
        js = float(distance.jensenshannon(ref, cur))
        out.append([float(ks.pvalue), float(wd), psi, kl, js])
    return out


def timed(path, runs):
    with open(path) as data:
        doc = json.load(data)
    features = [(np.asarray(f["reference"]), np.asarray(f["current"])) for f in doc["features"]]
    values = report(features)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report(features)
        times.append(time.perf_counter() - started)
    times.sort()
    import scipy
    print(json.dumps({"seconds": times[len(times) // 2], "runs": runs, "values": values,
                      "scipy": scipy.__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    else:
        timed(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
