"""``python -m grader autograder q10 OUT/``: a Gradescope autograder for one exercise.

OUT/ gets what Gradescope unpacks into ``/autograder/source``, and the same files zipped
as ``OUT/autograder.zip``, ready to upload:

- ``setup.sh``: run once when Gradescope builds the image; makes ``/autograder/venv`` and
  installs the project in it (editable, from ``project/``).
- ``run_autograder``: run for every submission; grades ``/autograder/submission`` as the
  exercise in instructor mode and writes ``/autograder/results/results.json``.
- ``autograder.json``: the exercise, its files and the tasks graded.
- ``salt``: instructor mode's secret (``$DLCORE_GRADER_SALT`` overrides it at run time).
- ``project/``: ``grader/``, ``dlcore/`` (the parent computes the references with it; the
  worker cannot import it, and as root cannot see it), ``pyproject.toml``, ``README.md``.
  Never ``solutions/``, ``exercises/`` or ``tests/``.

``run_autograder`` honours ``AUTOGRADER_ROOT`` (default ``/autograder``) and ``PYTHON``
(default the venv's), so it can be tried locally on a folder laid out like Gradescope's::

    mkdir -p try/source try/submission try/results
    unzip -q OUT/autograder.zip -d try/source && cp my/activations.py try/submission/
    AUTOGRADER_ROOT=$PWD/try PYTHON=$(which python) bash try/source/run_autograder
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "dlcore-gradescope-autograder"
_STAMP = (2020, 1, 1, 0, 0, 0)  # zip entries' time: the same files give the same zip

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (the zip is
# unpacked in /autograder/source): a Python 3.10+ virtual environment in /autograder/venv
# with the project (grader and dlcore, from source/project) and its dependencies.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PY=""
for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \\
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    PY="$candidate"
    break
  fi
done
if [ -z "$PY" ]; then
  apt-get update
  apt-get install -y python3 python3-venv python3-pip
  PY=python3
fi
if ! "$PY" -m venv "$ROOT/venv"; then  # Debian and Ubuntu ship venv separately
  apt-get update
  apt-get install -y python3-venv
  "$PY" -m venv "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install -e "$SOURCE/project"
# the worker (an unprivileged user) reads the grader's code; the secret stays root's
chmod -R a+rX "$SOURCE/project"
chmod 600 "$SOURCE/salt"
"$ROOT/venv/bin/python" -c "import jax.numpy as jnp; jnp.ones(1).block_until_ready()"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in a fresh container: it grades
# /autograder/submission as exercise {exercise} in instructor mode and writes
# /autograder/results/results.json. AUTOGRADER_ROOT (default /autograder) and PYTHON
# (default the venv setup.sh made) let it run on a local copy of that layout.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-$ROOT/venv/bin/python}}"
cd "$ROOT/source/project" || exit 1
exec "$PYTHON" -m grader.autograder run "$ROOT"
"""


class _Refused(Exception):
    pass


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grader autograder",
        description="Build a Gradescope autograder for one exercise: OUT/autograder.zip "
        "(upload it) and the same files unpacked in OUT/.",
    )
    p.add_argument("exercise", metavar="QNN", help="the exercise the students submit, e.g. q10")
    p.add_argument("out", metavar="OUT", help="folder to build in (new, empty, or an earlier "
                   "build, which is replaced)")
    p.add_argument("--task", action="append", metavar="NAME",
                   help="grade only this task (repeatable; default: every task)")
    p.add_argument("--salt", metavar="SECRET", default=os.environ.get("DLCORE_GRADER_SALT"),
                   help="instructor mode's secret (default $DLCORE_GRADER_SALT, else the "
                   "earlier build's, else a new random one)")
    args = p.parse_args(argv)
    try:
        zipped = build(args.exercise, Path(args.out), args.task, args.salt)
    except _Refused as e:
        print(f"grader: {e}", file=sys.stderr)
        return 2
    from grader.spec import load_spec

    spec = load_spec(args.exercise)
    size = zipped.stat().st_size / 1e6
    print(f"built {args.out} for {spec.id} {spec.title}"
          + (f" (tasks: {', '.join(args.task)})" if args.task else ""))
    print(f"upload {zipped} ({size:.1f} MB) as a Gradescope programming assignment's "
          f"autograder; students submit {', '.join(spec.files)}")
    print(f"the secret is in {Path(args.out) / 'salt'}: keep it out of the students' reach")
    return 0


def build(exercise: str, out: Path, tasks: list[str] | None, salt: str | None) -> Path:
    """Writes the autograder folder and its zip; returns the zip's path."""
    from grader.spec import available_exercises, load_spec

    if exercise not in available_exercises():
        raise _Refused(f"unknown exercise {exercise!r}: the grader knows "
                       f"{', '.join(available_exercises())}")
    spec = load_spec(exercise)
    unknown = sorted(set(tasks or ()) - set(spec.tasks))
    if unknown:
        raise _Refused(f"{exercise} has no task {unknown[0]!r} (tasks: {', '.join(spec.tasks)})")
    earlier = _earlier_salt(out)  # refuses a folder that holds anything else
    salt = salt or earlier or secrets.token_urlsafe(24)
    out = Path(os.path.abspath(out))
    if not out.parent.is_dir():
        raise _Refused(f"{out.parent} is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _fill(tmp, spec, tasks, salt)
        _zip(tmp, tmp / "autograder.zip")
        _swap(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "autograder.zip"


def _earlier_salt(out: Path) -> str | None:
    """An earlier build's secret, checking on the way that OUT may be (re)built at all."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise _Refused(f"{out} is a file, not a folder")
    if not any(out.iterdir()):
        return None
    try:
        marker = json.loads((out / "autograder.json").read_text()).get("built_by")
    except (OSError, ValueError, AttributeError):
        marker = None
    if marker != MARKER:
        raise _Refused(f"{out} is not empty and is not an autograder built by this command: "
                       "pick a new folder (nothing was changed)")
    try:
        return (out / "salt").read_text().strip() or None
    except OSError:
        return None


def _fill(tmp: Path, spec, tasks, salt: str) -> None:
    (tmp / "setup.sh").write_text(SETUP_SH)
    (tmp / "run_autograder").write_text(RUN_AUTOGRADER.format(exercise=spec.id))
    for name in ("setup.sh", "run_autograder"):
        os.chmod(tmp / name, 0o755)
    config = {"built_by": MARKER, "exercise": spec.id, "title": spec.title,
              "files": list(spec.files), "tasks": tasks or None}
    (tmp / "autograder.json").write_text(json.dumps(config, indent=2) + "\n")
    (tmp / "salt").write_text(salt + "\n")
    os.chmod(tmp / "salt", 0o600)
    project = tmp / "project"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    for folder in ("grader", "dlcore"):
        shutil.copytree(ROOT / folder, project / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)


def _zip(folder: Path, dest: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != dest)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _STAMP)
            info.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def _swap(tmp: Path, out: Path) -> None:
    """``tmp`` becomes ``out``; an earlier build there goes only once the new one is in."""
    os.chmod(tmp, 0o755)
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


# -- on Gradescope: run_autograder's side -------------------------------------------------


def run(root: Path) -> int:
    """Grades ``root/submission`` and writes ``root/results/results.json``, whatever happens
    (a grader failure becomes a document scoring 0 that says so)."""
    t0 = time.monotonic()
    source = root / "source"
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    final = results / "results.json"
    partial = results / ".partial-results.json"
    try:
        cfg = json.loads((source / "autograder.json").read_text())
        salt = os.environ.get("DLCORE_GRADER_SALT") or (source / "salt").read_text().strip()
        folder = find_submission(root / "submission", cfg["files"], cfg["exercise"])
        argv = [str(folder), "--exercise", cfg["exercise"], "--instructor", "--salt", salt,
                "--jobs", "1", "--output", str(partial)]
        for task in cfg.get("tasks") or ():
            argv += ["--task", task]
        from grader.cli import main as grade

        os.chdir(root)  # the report names the submission "submission", not a long path
        code = grade(argv)
        if not partial.is_file():
            raise RuntimeError(f"the grader wrote no results (exit code {code})")
        os.replace(partial, final)
        return 0
    except Exception as e:  # the student still gets a document, and the reason
        doc = {"score": 0.0, "execution_time": round(time.monotonic() - t0, 3),
               "output": f"The autograder could not grade this submission ({type(e).__name__}: "
                         f"{e}). Please tell your instructor.", "tests": []}
        final.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"grader: {doc['output']}", file=sys.stderr)
        return 1


def find_submission(submission: Path, files: list[str], exercise: str) -> Path:
    """The folder holding the exercise's files: the submission itself, or (an uploaded zip
    or repository) the folder below it that has them, preferring one named like the
    exercise, then the shallowest. The submission itself when none has them (the report
    then says which file is missing)."""
    if all((submission / f).is_file() for f in files):
        return submission
    found = []
    for here, dirs, names in os.walk(submission):
        dirs[:] = sorted(d for d in dirs if d[:1] not in "._")
        if files[0] in names:
            path = Path(here)
            found.append((path.name != exercise, len(path.parts), str(path)))
    return Path(min(found)[2]) if found else submission


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"] and len(sys.argv) == 3:
        sys.exit(run(Path(sys.argv[2]).resolve()))
    print("usage: python -m grader.autograder run AUTOGRADER_ROOT (build one with "
          "python -m grader autograder QNN OUT)", file=sys.stderr)
    sys.exit(2)
