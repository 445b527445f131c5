"""The grader against every exercise: solutions pass, stubs are not implemented, known-wrong
implementations are rejected by the check meant to catch them, correct alternatives pass."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from grader.spec import available_exercises, load_spec
from tests.grading import REJECTED, grade_folder, grade_here, make_submission, rounds

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = available_exercises()


def _mutants(ex):
    path = ROOT / "tests" / "mutants" / f"{ex}.py"
    if not path.exists():  # test_every_check_has_a_mutant_it_rejects fails for it
        return types.SimpleNamespace(MUTANTS=[], ALTERNATIVES=[])
    spec = importlib.util.spec_from_file_location(f"mutants_{ex}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _params(kind):
    out = []
    for ex in EXERCISES:
        items = getattr(_mutants(ex), kind)
        for i, group in enumerate(rounds(load_spec(ex), items)):
            # one exercise's gradings in one xdist worker: its references are computed once
            out.append(pytest.param(ex, group, id=f"{ex}-{i}-" + "+".join(m.name for m in group),
                                    marks=[pytest.mark.xdist_group(ex), pytest.mark.exercise]))
    return out


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("grader-cache"))


GROUPED = [pytest.param(ex, marks=pytest.mark.xdist_group(ex)) for ex in EXERCISES]


@pytest.mark.worker
@pytest.mark.parametrize("ex", GROUPED)
def test_solution_scores_full_marks(ex, cache):
    result = grade_folder(ROOT / "solutions" / ex, ex, cache_dir=cache)
    bad = [(c.name, c.status, c.message) for c in result.checks if c.status != "pass"]
    assert not bad
    assert result.score == result.max_score > 0


@pytest.mark.worker
@pytest.mark.parametrize("ex", GROUPED)
def test_untouched_stub_is_not_implemented_everywhere(ex, cache):
    result = grade_folder(ROOT / "exercises" / ex, ex, cache_dir=cache)
    assert {c.status for c in result.checks} == {"not_implemented"}
    assert result.score == 0
    assert {c.task for c in result.checks} == set(load_spec(ex).tasks)


@pytest.mark.parametrize("ex, group", _params("MUTANTS"))
def test_mutants_are_rejected_by_their_check(ex, group, tmp_path, cache):
    folder = make_submission(tmp_path, ex, [m.code for m in group])
    # only the checks meant to reject these mutants: what the test asserts, and far fewer
    # compiles than the tasks' every check
    result = grade_here(folder, ex, checks={m.check for m in group})
    by_name = {c.id: c for c in result.checks}
    for m in group:
        assert m.check in by_name, f"{m.name}: no check with id {m.check!r}"
        got = by_name[m.check]
        expected = {m.status} if m.status else REJECTED
        assert got.status in expected, f"{m.name}: {m.check} said {got.status}: {got.message}"
        assert got.score == 0
        assert got.message, f"{m.name}: a failing check must say why"


@pytest.mark.parametrize("ex, group", _params("ALTERNATIVES"))
def test_correct_alternatives_are_accepted(ex, group, tmp_path, cache):
    folder = make_submission(tmp_path, ex, [a.code for a in group])
    result = grade_here(folder, ex, {a.task for a in group})
    bad = [(c.name, c.status, c.message) for c in result.checks if c.status != "pass"]
    assert not bad


@pytest.mark.parametrize("ex", EXERCISES)
def test_every_check_has_a_mutant_it_rejects(ex):
    spec = load_spec(ex)
    assert (ROOT / "tests" / "mutants" / f"{ex}.py").exists(), f"tests/mutants/{ex}.py missing"
    covered = {m.check for m in _mutants(ex).MUTANTS}
    assert {c.id for c in spec.checks} - covered == set()
    assert covered - {c.id for c in spec.checks} == set()
    assert len(_mutants(ex).MUTANTS) >= 5


def test_generated_exercise_files_match_dlcore():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_exercises.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.worker
def test_same_seed_same_json(cache):
    ex = EXERCISES[-1]
    runs = [_cli(f"solutions/{ex}", "--format", "json", "--cache-dir", cache) for _ in range(2)]
    docs = [json.loads(r.stdout) for r in runs]
    for d in docs:
        d.pop("execution_time")
    assert runs[0].returncode == 0
    assert docs[0] == docs[1]
    assert json.dumps(docs[0], sort_keys=True) == json.dumps(docs[1], sort_keys=True)


@pytest.mark.worker
def test_cli_exit_codes_and_targets(tmp_path, cache):
    ex = EXERCISES[0]
    assert _cli("exercises/q99").returncode == 2
    assert _cli("no/such/folder").returncode == 2
    stub = _cli(ex, "--cache-dir", cache)
    assert stub.returncode == 1 and "not implemented yet" in stub.stdout
    assert "Traceback" not in stub.stdout + stub.stderr
    # an instructor's copy: any folder named qNN, and a folder holding several of them
    for who in ("alice", "bob"):
        make_submission(tmp_path / who, ex, [])
    both = _cli(str(tmp_path), "--format", "json", "--cache-dir", cache)
    doc = json.loads(both.stdout)
    assert both.returncode == 0, both.stdout[-2000:]
    assert doc["exercise"] == [ex, ex] and doc["score"] == doc["max_score"]
    for test in doc["tests"]:
        assert set(test) >= {
            "name",
            "score",
            "max_score",
            "status",
            "output",
            "visibility",
            "task",
            "kind",
        }
    one_file = next(iter(load_spec(ex).files))
    assert _cli(str(tmp_path / "alice" / ex / one_file), "--cache-dir", cache).returncode == 0
    junit = _cli(str(tmp_path / "bob" / ex), "--format", "junit", "--cache-dir", cache)
    assert junit.returncode == 0 and junit.stdout.startswith("<?xml")
