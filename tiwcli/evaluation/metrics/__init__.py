"""The paper's evaluation metrics: L1, PSNR, SSIM, LPIPS, FID, KID, AKD, MKR, AED.

One file per family (pixels, lpips, fid, landmarks, identity); `suite` combines them
for `tiw eval`. Definitions are in each file's docstring and in the README.
"""

from tiwcli.evaluation.metrics.suite import (
    ALL_METRICS,
    METRICS,
    MetricSpec,
    MetricValue,
    Reference,
    RowAccumulator,
    Scorer,
    parse_metric_names,
)

__all__ = [
    "ALL_METRICS",
    "METRICS",
    "MetricSpec",
    "MetricValue",
    "Reference",
    "RowAccumulator",
    "Scorer",
    "parse_metric_names",
]
