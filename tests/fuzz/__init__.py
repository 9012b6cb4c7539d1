"""A seeded fuzzing harness: broken variants of real inputs, run through the `tiw` CLI in-process.

- `corpus.py`   the base files, made once: a small real photo, a few-frame real clip, the shipped
                weights and a tiny checkpoint, a two-step training run, a tiny dataset
- `mutate.py`   byte-level mutations (bit flips, truncations, swapped headers, ...) and absurd values
- `cases.py`    case `i` of seed `s`: a command line over mutated copies, drawn from its own RNG
- `harness.py`  runs one case and checks it: exit 0, 2 or 3 and no traceback, nothing left beside
                the output, inputs unchanged (sha256), a memory ceiling
- `test_fuzz.py` a fixed small set in `make test`; `python -m tests.fuzz --cases 1000 --seed 0` the
                long run (`make fuzz`)

A failure prints its seed and case number; `python -m tests.fuzz --seed S --case I` reruns it.
"""
