"""measure.py with the driver's mouth interior faded in faster (RULE.md, twelfth rule), or brought
to the output's light another way (thirteenth and eighteenth rules), or with the skins' luma ratio
taken to another power (twentieth rule).

`tiwcli.inference.mouth_interior.FULL_AT` is the extra inner-lip gap (crop half-widths) at which the
driver's interior is painted fully; below it the interior is blended over the warp's stretched lips
in proportion. This runs `measure.py` with another value, to judge it on dev before it is changed:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/interior_fade.py FULL_AT \
        [--colour-transfer gain|luma-chroma|luma-chroma-fit|hue-turn] [--luma-power P] \
        measure.py's arguments...
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure

from tiwcli.inference import mouth_interior

WAYS = ("gain", "luma-chroma", "luma-chroma-fit", "hue-turn")  # mouth_interior.COLOUR_TRANSFER


def main(argv: list[str]) -> int:
    full_at = float(argv[0])
    if not full_at > 0:
        raise SystemExit("FULL_AT must be > 0")
    rest = argv[1:]
    if rest[:1] == ["--colour-transfer"]:
        if len(rest) < 2 or rest[1] not in WAYS:
            raise SystemExit(f"--colour-transfer takes one of {', '.join(WAYS)}")
        mouth_interior.COLOUR_TRANSFER, rest = rest[1], rest[2:]
    if rest[:1] == ["--luma-power"]:
        if len(rest) < 2 or not 0 <= float(rest[1]) <= 1:
            raise SystemExit("--luma-power takes a number from 0 to 1")
        mouth_interior.LUMA_GAIN_POWER, rest = float(rest[1]), rest[2:]
    print(
        f"mouth_interior.FULL_AT = {full_at} (shipped: {mouth_interior.FULL_AT}), "
        f"COLOUR_TRANSFER = {mouth_interior.COLOUR_TRANSFER}, "
        f"LUMA_GAIN_POWER = {mouth_interior.LUMA_GAIN_POWER}",
        flush=True,
    )
    mouth_interior.FULL_AT = full_at
    return measure.main(rest)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
