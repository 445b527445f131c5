"""The instructor's tools, driven as an instructor runs them: a class folder graded with
``--output-dir``, and a Gradescope autograder built, then run on a Gradescope-like tree."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tests.grading import splice

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "solutions" / "q10" / "activations.py").read_text()
HANG = "def relu(x):\n    while True:\n        pass\n"


def _scaled(factor: float) -> str:
    return f"def relu(x):\n    return jnp.maximum(x, 0) * {factor}\n"


def _grader(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


def _student(klass: Path, name: str, text: str) -> None:
    folder = klass / name / "q10"
    folder.mkdir(parents=True)
    (folder / "activations.py").write_text(text)


def _class(tmp_path: Path) -> Path:
    """alice is right, bob has a syntax error, carol's relu never returns, dave handed in
    nothing, eve and frank scale relu by different factors (one mistake, two messages that
    differ only in numbers)."""
    klass = tmp_path / "class"
    _student(klass, "alice", SOLUTION)
    _student(klass, "bob", SOLUTION.replace("def relu(x", "def relu(x,,", 1))
    _student(klass, "carol", splice(SOLUTION, HANG))
    (klass / "dave").mkdir()
    _student(klass, "eve", splice(SOLUTION, _scaled(1.5)))
    _student(klass, "frank", splice(SOLUTION, _scaled(2.5)))
    return klass


@pytest.mark.worker
def test_a_class_gets_one_verdict_per_student_and_the_instructors_files(tmp_path):
    klass = _class(tmp_path)
    out = tmp_path / "out"
    proc = _grader(klass, "--task", "relu", "--check-timeout", "3", "--jobs", "2",
                   "--output-dir", out, "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    students = ["alice", "bob", "carol", "dave", "eve", "frank"]
    # progress goes to stderr, one line per submission when it is not a terminal
    progress = [line for line in proc.stderr.splitlines() if line.startswith("graded ")]
    assert len(progress) == len(students) and progress[-1].startswith("graded 6/6")
    assert "left" in progress[0] and "graded" not in proc.stdout

    docs = {s: json.loads((out / s / "results.json").read_text()) for s in students}
    for s, doc in docs.items():  # one Gradescope document per student, names unique
        names = [t["name"] for t in doc["tests"]]
        assert len(names) == len(set(names)) == 5, s
        assert doc["score"] == sum(t["score"] for t in doc["tests"])
        for t in doc["tests"]:
            assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(t)
    assert docs["alice"]["score"] == docs["alice"]["max_score"] == 5
    assert all(t["status"] == "passed" for t in docs["alice"]["tests"])
    assert docs["bob"]["score"] == 0 and "syntax error" in docs["bob"]["tests"][0]["output"]
    carol = {t["id"]: t for t in docs["carol"]["tests"]}
    assert carol["relu/matches"]["grader_status"] == "timeout"
    assert docs["dave"]["score"] == 0 and "not found" in docs["dave"]["tests"][0]["output"]
    assert 0 < docs["eve"]["score"] < 5 and docs["frank"]["score"] == docs["eve"]["score"]

    with open(out / "gradebook.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["student", "total", "max", "q10/relu"]
    assert [r[0] for r in rows[1:]] == students
    for r in rows[1:]:
        assert float(r[1]) == docs[r[0]]["score"] and float(r[2]) == 5

    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert sorted(s.get("name").split()[0] for s in suites) == students
    failures = {s.get("name").split()[0]: int(s.get("failures")) for s in suites}
    assert failures["alice"] == 0 and failures["bob"] == 5

    md = (out / "report.md").read_text()
    assert "6 students" in md
    assert "| 100% | 1 |" in md  # alice alone at full marks
    row = next(line for line in md.splitlines() if "relu: matches" in line and " of 6" in line)
    # failed by everyone but alice; eve's and frank's messages group once numbers are out
    assert "5 of 6" in row and "wrong (2 students)" in row
    reteach = md.split("## What to reteach")[1].split("##")[0]
    counts = [int(line.split(" of 6")[0].rsplit("|", 1)[1]) for line in reteach.splitlines()
              if " of 6 " in line]
    assert counts == sorted(counts, reverse=True) and len(counts) == 5
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "What to reteach" in html
    assert "wrong</b> (2 students)" in html
    has_plot = importlib.util.find_spec("matplotlib") is not None
    assert (out / "scores.png").is_file() == has_plot
    assert ("scores.png" in md) == has_plot


def test_an_output_dir_that_is_a_file_or_inside_the_class_is_refused(tmp_path):
    klass = tmp_path / "class"
    _student(klass, "alice", SOLUTION)
    _student(klass, "bob", SOLUTION)
    target = tmp_path / "grades.txt"
    target.write_text("keep me")
    for out in (target, klass / "out"):
        proc = _grader(klass, "--output-dir", out)
        assert proc.returncode == 2
        assert proc.stderr.startswith("grader: --output-dir") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert target.read_text() == "keep me" and not (klass / "out").exists()


def _run_autograder(tree: Path, cache: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(tree), "PYTHON": sys.executable,
           "DLCORE_GRADER_CACHE": str(cache)}
    proc = subprocess.run(["bash", str(tree / "run_autograder")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((tree / "results" / "results.json").read_text())


def _gradescope_tree(tmp_path: Path, name: str, zipped: Path) -> Path:
    """/autograder as Gradescope lays it out: the zip unpacked in source/, run_autograder
    copied next to it, an empty results/ and the student's files in submission/."""
    tree = tmp_path / name
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(tree / "source")
    (tree / "run_autograder").write_bytes((tree / "source" / "run_autograder").read_bytes())
    (tree / "results").mkdir()
    (tree / "submission").mkdir()
    return tree


@pytest.mark.worker
def test_the_autograder_grades_a_submission_as_gradescope_runs_it(tmp_path):
    out = tmp_path / "gradescope"
    proc = _grader("autograder", "q10", out, "--task", "relu", "--salt", "class-secret")
    assert proc.returncode == 0, proc.stderr
    assert "autograder.zip" in proc.stdout
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(out / script)]).returncode == 0
        assert os.stat(out / script).st_mode & stat.S_IXUSR
    setup = (out / "setup.sh").read_text()
    assert "pip install" in setup and "source/project" in setup.replace('"', "")
    assert (out / "salt").read_text().strip() == "class-secret"
    with zipfile.ZipFile(out / "autograder.zip") as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "project/grader/cli.py",
            "project/dlcore/__init__.py", "project/pyproject.toml"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any(n.split("/")[1] in ("solutions", "exercises", "tests")
                   for n in names if n.startswith("project/"))
    assert not any("__pycache__" in n for n in names)

    good = _gradescope_tree(tmp_path, "good", out / "autograder.zip")
    (good / "submission" / "activations.py").write_text(SOLUTION)
    wrong = _gradescope_tree(tmp_path, "wrong", out / "autograder.zip")
    nested = wrong / "submission" / "homework" / "q10"  # an uploaded folder, not flat files
    nested.mkdir(parents=True)
    (nested / "activations.py").write_text(splice(SOLUTION, _scaled(3.0)))
    cache = tmp_path / "cache"
    full, less = _run_autograder(good, cache), _run_autograder(wrong, cache)
    assert full["score"] == full["max_score"] == 5
    assert [t["status"] for t in full["tests"]] == ["passed"] * 5
    assert 0 < less["score"] < less["max_score"] == 5
    for doc in (full, less):
        assert {"score", "tests", "output", "execution_time"} <= set(doc)
        assert all({"name", "score", "max_score", "status", "output", "visibility"} <= set(t)
                   for t in doc["tests"])
    assert full["submissions"][0]["path"] == "submission"


def test_the_autograder_folder_is_rebuilt_with_its_secret_and_never_over_other_files(tmp_path):
    out = tmp_path / "gradescope"
    env = {k: v for k, v in os.environ.items() if k != "DLCORE_GRADER_SALT"}
    assert _grader("autograder", "q10", out, env=env).returncode == 0
    secret = (out / "salt").read_text()
    assert len(secret.strip()) >= 16 and os.stat(out / "salt").st_mode & 0o077 == 0
    assert _grader("autograder", "q10", out, env=env).returncode == 0
    assert (out / "salt").read_text() == secret  # a rebuild keeps the students' inputs
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    for args in (("q10", mine), ("q99", tmp_path / "new"), ("q10", tmp_path / "x", "--task",
                                                             "nope")):
        proc = _grader("autograder", *args, env=env)
        assert proc.returncode == 2 and proc.stderr.startswith("grader: "), proc.stderr
        assert "Traceback" not in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["todo.txt"]
    assert not (tmp_path / "new").exists() and not (tmp_path / "x").exists()
