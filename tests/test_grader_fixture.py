"""The grader carries every kind of argument and result a spec may need (pytree and keyword
arguments, an NNX module, a callable, a str result, 4 fake devices, a data file), each
checked by a stock kind, and each check rejects a known-wrong version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.run import Options, grade
from grader.spec import load_spec
from tests.fixture_exercise.mutants import MUTANTS
from tests.grading import REJECTED, rounds, splice

pytestmark = pytest.mark.worker
HERE = Path(__file__).resolve().parent / "fixture_exercise"
SPEC = load_spec("tests.fixture_exercise.spec")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fixture-cache"))


def _grade(folder: Path, cache: str):
    return grade(
        SPEC, str(folder), [str(folder / "tasks.py")], Options(cache_dir=cache), str(folder)
    )


def test_the_reference_passes_every_check_in_a_four_device_worker(cache):
    result = _grade(HERE / "solution", cache)
    assert [(c.id, c.status, c.message) for c in result.checks if c.status != "pass"] == []
    assert {c.task for c in result.checks} == set(SPEC.tasks)
    assert SPEC.devices == 4 and SPEC.data


def test_every_check_has_a_mutant():
    assert {c.id for c in SPEC.checks} <= {m.check for m in MUTANTS}


@pytest.mark.parametrize("group", rounds(SPEC, MUTANTS), ids=lambda g: "+".join(m.name for m in g))
def test_mutants_are_rejected_by_their_check(group, tmp_path, cache):
    folder = tmp_path / "q99"
    folder.mkdir()
    source = (HERE / "solution" / "tasks.py").read_text()
    for m in group:
        source = splice(source, m.code)
    (folder / "tasks.py").write_text(source)
    by_id = {c.id: c for c in _grade(folder, cache).checks}
    for m in group:
        got = by_id[m.check]
        assert got.status in ({m.status} if m.status else REJECTED), (m.name, got.message)
        assert got.score == 0 and got.message
    shutil.rmtree(folder)
