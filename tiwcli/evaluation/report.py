"""What `tiw eval` produces: its settings, the table of (method, number of sources) x metrics,
and that table as JSON, CSV, a plot, and formatted values.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tiwcli.choices import FaceBackend, Precision, check_choice
from tiwcli.errors import InputError
from tiwcli.evaluation.baselines import BASELINES
from tiwcli.evaluation.metrics import METRICS, MetricValue


@dataclass(frozen=True)
class EvalSettings:
    metrics: tuple[str, ...]
    num_sources: tuple[int, ...] = (1,)  # one table row per method and N
    baselines: tuple[str, ...] = BASELINES
    max_frames: int | None = None  # driving frames per clip (evenly spaced); None: all
    fid_frames: int = 500  # cap on frames per set for FID/KID (evenly spaced over clips)
    seed: int = 0  # KID subsets and cross-identity pairing
    batch_size: int = 8  # driving frames per model call
    face_backend: FaceBackend = "auto"
    cross_identity: bool = False

    # autocast of the model, as `tiw animate` on the same device (tiwcli.runtime.autocast)
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        check_choice(self.face_backend, FaceBackend, "face backend")
        check_choice(self.precision, Precision, "precision")


@dataclass
class Row:
    method: str
    num_sources: int | None
    metrics: dict[str, MetricValue]


@dataclass
class EvaluationReport:
    mode: str  # "reconstruction", "cross-identity" or "videos"
    metrics: tuple[str, ...]
    rows: list[Row]
    unavailable: dict[str, str]  # metric -> why it could not run at all
    notes: list[str] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "metrics": {
                name: {"label": METRICS[name].label, "higher_is_better": METRICS[name].higher_is_better}
                for name in self.metrics
            },
            "rows": [
                {
                    "method": row.method,
                    "num_sources": row.num_sources,
                    "metrics": {name: _json_value(value) for name, value in row.metrics.items()},
                }
                for row in self.rows
            ],
            "unavailable": self.unavailable,
            "notes": self.notes,
            "settings": self.settings,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["method", "num_sources", *self.metrics, *(f"{m}_frames" for m in self.metrics)])
            for row in self.rows:
                values = [row.metrics[m].value for m in self.metrics]
                writer.writerow(
                    [
                        row.method,
                        "" if row.num_sources is None else row.num_sources,
                        *("" if v is None else f"{v:.6g}" for v in values),
                        *(row.metrics[m].frames for m in self.metrics),
                    ]
                )


def _json_value(value: MetricValue) -> dict[str, object]:
    finite = value.value is not None and math.isfinite(value.value)
    entry: dict[str, object] = {"value": value.value if finite else None, "frames": value.frames}
    if value.note:
        entry["note"] = value.note
    if value.std is not None:
        entry["std"] = value.std
    return entry


def plot_report(report: EvaluationReport, path: Path) -> None:
    """Each available metric against the number of sources, one line per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        name for name in report.metrics if any(row.metrics[name].value is not None for row in report.rows)
    ]
    if not names or all(row.num_sources is None for row in report.rows):
        raise InputError("--plot needs a dataset evaluation with at least one available metric")
    columns = min(3, len(names))
    lines = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3 * lines), squeeze=False)
    methods = list(dict.fromkeys(row.method for row in report.rows))
    for axis, name in zip(axes.flat, names, strict=False):
        spec = METRICS[name]
        for color, method in enumerate(methods):  # a method keeps its colour in every panel
            points = sorted(
                (row.num_sources, row.metrics[name].value)
                for row in report.rows
                if row.method == method and row.metrics[name].value is not None
            )
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=method, color=f"C{color}")
        axis.set_title(f"{spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better)")
        axis.set_xlabel("number of source images")
        axis.set_xticks(sorted({row.num_sources for row in report.rows if row.num_sources is not None}))
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"tiw eval ({report.mode})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_value(name: str, value: MetricValue) -> str:
    if value.value is None:
        return "n/a"
    digits = {"l1": 2, "psnr": 2, "ssim": 4, "lpips": 4, "fid": 2, "kid": 4, "akd": 2, "mkr": 3, "aed": 3}[
        name
    ]
    if math.isinf(value.value):
        return "inf"
    return f"{value.value:.{digits}f}"


def unexplained_gaps(report: EvaluationReport) -> list[str]:
    """One line per (metric, reason) that leaves cells n/a, other than metrics `unavailable` at all."""
    lines = []
    for name in report.metrics:
        if name in report.unavailable:
            continue
        by_reason: dict[str, list[str]] = {}
        for row in report.rows:
            if row.metrics[name].value is None:
                label = row.method if row.num_sources is None else f"{row.method} x{row.num_sources}"
                by_reason.setdefault(row.metrics[name].note, []).append(label)
        for reason, labels in by_reason.items():
            lines.append(f"{METRICS[name].label} n/a for {', '.join(labels)}: {reason}")
    return lines
