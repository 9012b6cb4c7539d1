"""Markdown tables from `tiw eval --json` reports (the ablation, the model card).

    python scripts/evaluation/eval_table.py NAME=REPORT.json [NAME=REPORT.json ...] \
        [--metrics l1,psnr,ssim,akd,aed]

One line per (report, method, number of sources); baselines (copy-source, landmark-warp) are
listed once, from the first report that has them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def lines(named_reports: list[tuple[str, dict]], metrics: list[str]) -> list[str]:
    header = ["row", "method", "sources", *metrics, "frames"]
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    seen_baselines: set[tuple[str, int]] = set()
    for name, report in named_reports:
        for row in report["rows"]:
            method, sources = row["method"], row["num_sources"]
            if method != "implicit-warping":
                if (method, sources) in seen_baselines:
                    continue
                seen_baselines.add((method, sources))
            values = []
            for metric in metrics:
                value = row["metrics"].get(metric, {}).get("value")
                values.append(
                    "n/a" if value is None else f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
                )
            frames = max((m.get("frames", 0) for m in row["metrics"].values()), default=0)
            label = name if method == "implicit-warping" else "baseline"
            out.append(f"| {label} | {method} | {sources} | " + " | ".join(values) + f" | {frames} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="NAME=PATH")
    parser.add_argument("--metrics", default="l1,psnr,ssim,akd,aed")
    args = parser.parse_args()
    named = []
    for item in args.reports:
        name, path = item.split("=", 1)
        named.append((name, json.loads(Path(path).read_text())))
    print("\n".join(lines(named, args.metrics.split(","))))


if __name__ == "__main__":
    main()
