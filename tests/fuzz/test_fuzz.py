"""A fixed small set of fuzz cases in every `make test` (seed 0, cases 0..FIXED_CASES-1, about 20 s);
`make fuzz` runs a thousand. A failure names its seed and case: `python -m tests.fuzz --seed 0 --case I`."""

from __future__ import annotations

import pytest

from tests.fuzz.corpus import Corpus, build_corpus
from tests.fuzz.harness import run_case

SEED = 0
FIXED_CASES = 30


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("fuzz-corpus"))


@pytest.mark.parametrize("number", range(FIXED_CASES))
def test_fuzz_case(corpus, tmp_path, number):
    outcome = run_case(corpus, tmp_path / "case", SEED, number)
    assert not outcome.problems, outcome.report()


def test_cases_are_reproducible(corpus, tmp_path):
    from tests.fuzz.cases import make_case

    first = make_case(corpus, tmp_path / "a", SEED, 7)
    second = make_case(corpus, tmp_path / "b", SEED, 7)
    assert first.changes == second.changes and first.kind == second.kind
    for path in (tmp_path / "a").rglob("*"):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.is_dir() or path.read_bytes() == twin.read_bytes()
