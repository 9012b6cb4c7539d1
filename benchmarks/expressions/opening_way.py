"""measure.py with the extra mouth opening of `--mouth-scale` added another way (RULE.md,
twenty-first rule): `tiwcli.inference.motion.SCALED_OPENING` is "lips" (along
`MOUTH_OPENING_BASIS`: the upper lip rises a little) or "jaw" (the upper lip still, the lower lip
and chin dropping further). This runs `measure.py` with the way given, to judge it on dev before
it is changed:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expressions/opening_way.py lips|jaw \
        measure.py's arguments...
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure

from tiwcli.inference import motion


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in motion.OPENING_WAYS:
        raise SystemExit(f"the first argument is one of {', '.join(motion.OPENING_WAYS)}")
    print(f"motion.SCALED_OPENING = {argv[0]} (shipped: {motion.SCALED_OPENING})", flush=True)
    motion.SCALED_OPENING = argv[0]
    return measure.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
