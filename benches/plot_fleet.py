"""Draws benches/fleet's time-to-first-token samples (target/bench-fleet/ttft.csv) per policy.

Usage: python3 benches/plot_fleet.py [CSV] [PNG]   (needs matplotlib)
One panel per scenario (steady, node killed); per policy, the empirical CDF of TTFT over every
round, on a log axis, with p50 and p99 in the legend.
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source = sys.argv[1] if len(sys.argv) > 1 else "target/bench-fleet/ttft.csv"
target = sys.argv[2] if len(sys.argv) > 2 else "docs/fleet-ttft.png"

samples = defaultdict(lambda: defaultdict(list))
with open(source, newline="") as f:
    for row in csv.DictReader(f):
        samples[row["scenario"]][row["policy"]].append(float(row["ttft_ms"]))


def pct(values, p):
    values = sorted(values)
    return values[round((len(values) - 1) * p)]


scenarios = list(samples)
fig, axes = plt.subplots(1, len(scenarios), figsize=(6 * len(scenarios), 4.2), sharey=True)
if len(scenarios) == 1:
    axes = [axes]
for ax, scenario in zip(axes, scenarios):
    for policy, values in samples[scenario].items():
        values = sorted(max(v, 0.1) for v in values)
        ys = [(i + 1) / len(values) for i in range(len(values))]
        label = f"{policy}: p50 {pct(values, 0.5):.0f} ms, p99 {pct(values, 0.99):.0f} ms"
        ax.step(values, ys, where="post", label=label, linewidth=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("time to first token (ms, log)")
    ax.set_title(f"benches/fleet — {scenario}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
axes[0].set_ylabel("fraction of answers")
fig.tight_layout()
fig.savefig(target, dpi=110)
print(f"wrote {target}")
