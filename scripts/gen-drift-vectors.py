#!/usr/bin/env python3
"""Generates the reference values outpost-core's drift statistics are tested
against: scipy's for KS, Wasserstein, chi-square and entropy-based measures,
and Evidently's formulas (re-stated below from Evidently's stattests, with its
binning and empty-bin handling) for PSI, KL, Jensen-Shannon, chi-square and
the Z-test.

Run by hand when the vectors must change, never in CI:

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install numpy scipy
    /tmp/gen/bin/python scripts/gen-drift-vectors.py

Writes crates/outpost-core/tests/data/drift-vectors.json.
"""

import json
import pathlib

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates" / "outpost-core" / "tests" / "data"


def evidently_binned(reference, current, n_bins=30):
    """Evidently's get_binned_data for numerical features: equal-width bins
    over both samples, shares per bin, empty bins set to 0.0001."""
    bins = np.histogram_bin_edges(np.concatenate([reference, current]), bins=n_bins)
    ref = np.histogram(reference, bins)[0] / len(reference)
    cur = np.histogram(current, bins)[0] / len(current)
    np.place(ref, ref == 0, 0.0001)
    np.place(cur, cur == 0, 0.0001)
    return ref, cur


def psi(ref, cur):
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def chi_square(reference, current):
    """Evidently's chi-square stattest: expected = reference counts scaled to
    the current sample's size, over the union of categories."""
    keys = sorted(set(reference) | set(current))
    ref_counts = {k: 0 for k in keys}
    cur_counts = {k: 0 for k in keys}
    for v in reference:
        ref_counts[v] += 1
    for v in current:
        cur_counts[v] += 1
    k_norm = len(current) / len(reference)
    f_exp = [ref_counts[k] * k_norm for k in keys]
    f_obs = [cur_counts[k] for k in keys]
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic, p = stats.chisquare(f_obs, f_exp)
    # One category leaves no degree of freedom: scipy's p-value is NaN.
    return finite_or_text(statistic), float(p) if np.isfinite(p) else "nan"


def finite_or_text(value):
    """JSON has no infinity: a category the reference never saw gives one."""
    value = float(value)
    return value if np.isfinite(value) else ("inf" if value > 0 else "nan")


def z_test(reference, current):
    """Evidently's proportions_diff_z_test, two-sided."""
    if len(set(reference)) == 1 and len(set(current)) == 1 and reference[0] == current[0]:
        return 0.0, 1.0
    keys = sorted(set(reference) | set(current))
    key = keys[0]
    a = np.array([0 if x == key else 1 for x in reference], dtype=float)
    b = np.array([0 if x == key else 1 for x in current], dtype=float)
    n1, n2 = len(a), len(b)
    p1, p2 = a.sum() / n1, b.sum() / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - stats.norm.cdf(abs(z))))


def numeric_case(name, reference, current):
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    # scipy's default: exact up to 10 000 values per side, asymptotic beyond.
    ks = stats.ks_2samp(reference, current)
    ref_bins, cur_bins = evidently_binned(reference, current)
    wd = stats.wasserstein_distance(reference, current)
    return {
        "name": name,
        "reference": reference.tolist(),
        "current": current.tolist(),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(wd),
        "wasserstein_normed": float(wd / max(np.std(reference), 0.001)),
        "psi": psi(ref_bins, cur_bins),
        "kl": float(stats.entropy(ref_bins, cur_bins)),
        "jensenshannon": float(distance.jensenshannon(ref_bins, cur_bins)),
    }


def categorical_case(name, reference, current):
    chi_stat, chi_p = chi_square(reference, current)
    case = {"name": name, "reference": reference, "current": current, "chi2_statistic": chi_stat, "chi2_pvalue": chi_p}
    # Evidently's _get_default_stattest (stattests/registry.py) counts the
    # distinct values of reference and current together: chi-square above
    # two, the Z-test otherwise (for references up to 1 000 rows).
    n_values = len(set(reference) | set(current))
    if n_values <= 2:
        z, p = z_test(reference, current)
        case["z_statistic"] = z
        case["z_pvalue"] = p
    case["default_test"] = "chi_square" if n_values > 2 else "z_test"
    default_p = chi_p if n_values > 2 else case["z_pvalue"]
    case["drifted"] = isinstance(default_p, float) and default_p < 0.05
    return case


def main():
    rng = np.random.default_rng(42)
    numeric = [
        numeric_case("small equal sizes", rng.normal(0, 1, 20), rng.normal(0.5, 1, 20)),
        numeric_case("small unequal sizes", rng.normal(0, 1, 30), rng.normal(0.3, 1.2, 17)),
        numeric_case("ties", rng.integers(0, 5, 60), rng.integers(1, 6, 45)),
        numeric_case("no drift", rng.normal(10, 2, 400), rng.normal(10, 2, 350)),
        numeric_case("shifted", rng.exponential(3, 800), rng.exponential(4, 900)),
        numeric_case("large", rng.lognormal(3, 1, 5000), rng.lognormal(3.05, 1, 4000)),
        numeric_case("identical", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
        numeric_case("disjoint", [1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0]),
        numeric_case("one value", [5.0], [1.0, 2.0, 9.0]),
        # Past 10 000 values scipy switches to kstwo.sf(d, round(en)).
        numeric_case("asymptotic", np.round(rng.lognormal(3, 1, 12000), 3), np.round(rng.lognormal(3.02, 1, 3000), 3)),
        numeric_case("asymptotic ties", rng.integers(0, 40, 15000), rng.integers(0, 41, 11000)),
        numeric_case("asymptotic few current", np.round(rng.normal(0, 1, 10001), 4), np.round(rng.normal(0.4, 1, 60), 4)),
        # Tiny exact p-values: 1 − P(inside) would cancel to 0; scipy computes
        # the outside probability directly and so must Outpost.
        numeric_case("tiny p 100 vs 101", np.arange(100.0), np.arange(101) + 60.5),
        numeric_case("tiny p 300 vs 200", np.arange(300.0), np.arange(200) + 150.25),
        numeric_case("tiny p equal sizes", np.arange(200.0), np.arange(200) + 170.5),
        numeric_case("tiny p disjoint", np.arange(40.0), np.arange(30) + 100.0),
        numeric_case("tiny p 1000 vs 700", np.arange(1000.0), np.arange(700) + 600.5),
        numeric_case("tiny p 1500 vs 1100", np.arange(1500.0), np.arange(1100) + 1000.5),
    ]
    # kstwo.sf over every region of Simard and L'Ecuyer's method choice.
    kstwo = []
    for n in [1, 2, 5, 30, 140, 141, 400, 1000, 9000, 60000, 150000]:
        scaled = [c / np.sqrt(n) for c in (0.4, 0.6, 0.8, 1.0, 1.2, 1.36, 1.6, 2.0, 2.5, 3.5)]
        for x in [0.001, 0.3 / n, 0.7 / n, 1.5 / n, 0.02, 0.05, 0.08, 0.12, 0.2, 0.35, 0.5, 0.6, 0.9, 0.99] + scaled:
            if 0 < x < 1:
                kstwo.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    categorical = [
        categorical_case("merchant types", list(rng.choice(["food", "travel", "online", "atm"], 300, p=[0.4, 0.2, 0.3, 0.1])),
                         list(rng.choice(["food", "travel", "online", "atm"], 250, p=[0.3, 0.2, 0.4, 0.1]))),
        categorical_case("new category", ["a"] * 50 + ["b"] * 30, ["a"] * 20 + ["b"] * 20 + ["c"] * 10),
        categorical_case("binary", ["yes"] * 70 + ["no"] * 30, ["yes"] * 50 + ["no"] * 50),
        categorical_case("binary same", ["yes"] * 40 + ["no"] * 10, ["yes"] * 80 + ["no"] * 20),
        # Categories seen on one side only: the union of both sides' keys,
        # count 0 where a side lacks one (Evidently's chisquare_stattest).
        categorical_case("a, b against a, c", ["a", "b"], ["a", "c"]),
        categorical_case("each side its own", ["a"] * 30 + ["b"] * 20, ["a"] * 25 + ["c"] * 15 + ["d"] * 10),
        categorical_case("category gone from current", ["a"] * 40 + ["b"] * 40 + ["c"] * 20, ["a"] * 50 + ["b"] * 50),
        categorical_case("one category", ["a"] * 5, ["a"] * 7),
        categorical_case("binary, one value per side", ["a"] * 10, ["b"] * 10),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"scipy": scipy.__version__, "numpy": np.__version__, "numeric": numeric, "categorical": categorical, "kstwo": kstwo}
    (OUT / "drift-vectors.json").write_text(json.dumps(doc) + "\n")
    print(f"wrote {len(numeric)} numeric and {len(categorical)} categorical cases")


if __name__ == "__main__":
    main()
