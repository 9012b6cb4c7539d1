"""Append one checkpoint's `tiw eval` JSON to RUN_DIR/curve.jsonl and keep the best as best.safetensors.

    python scripts/checkpoint_curve.py RUN_DIR MODEL STEP   (called by scripts/eval_checkpoints.sh)

Best = highest mean of the model's PSNR over the numbers of sources scored (1 and 3).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def summary(report: dict) -> dict[str, float]:
    values = {}
    for row in report["rows"]:
        for name in ("l1", "psnr"):
            value = row["metrics"].get(name, {}).get("value")
            if value is not None:
                values[f"{row['method']}/{row['num_sources']}/{name}"] = round(value, 4)
    return values


def main(run_dir: Path, model: Path, step: int) -> None:
    values = summary(json.loads(Path(f"{model}.eval.json").read_text()))
    psnrs = [value for key, value in values.items() if key.endswith("/psnr")]
    record = {"step": step, "model": model.name, "score": sum(psnrs) / len(psnrs), **values}
    curve = run_dir / "curve.jsonl"
    with curve.open("a") as file:
        file.write(json.dumps(record) + "\n")
    records = [json.loads(line) for line in curve.read_text().splitlines() if line.strip()]
    best = max(records, key=lambda r: r["score"])
    if best["step"] == step:
        shutil.copyfile(model, run_dir / "best.safetensors.partial")
        (run_dir / "best.safetensors.partial").replace(run_dir / "best.safetensors")
    print(f"step {step}: score {record['score']:.3f} (best: step {best['step']}, {best['score']:.3f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
