"""Test helpers: grade a solution with some functions swapped for other code.

A mutant is a known-wrong implementation of one task; the check whose id is ``check``
must reject it (the reference passes every check, so that check can tell the two apart).
An alternative is a correct implementation written differently; every check of its task
must accept it. Both are trusted code, so they are graded in this process
(:func:`grader.local.grade_local`: the same cases, probes, wire and judges as the worker);
the worker itself is proven on the solutions, the stubs and the adversarial suite.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import shutil
import textwrap
from pathlib import Path

from grader.local import grade_local
from grader.run import Options, grade
from grader.spec import Exercise, load_spec

ROOT = Path(__file__).resolve().parent.parent
REJECTED = {"wrong", "error", "forbidden", "timeout", "memory", "crash", "tamper"}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """``code`` replaces the task's function (and may add helpers) in the solution file."""

    name: str
    task: str
    check: str  # the id of the check that must reject it, e.g. "softmax/jit"
    code: str
    status: str | None = None  # the exact status expected, when it matters


@dataclasses.dataclass(frozen=True)
class Alternative:
    name: str
    task: str
    code: str


def splice(source: str, code: str) -> str:
    """Replaces the top-level definitions in ``source`` that ``code`` defines; adds the rest.

    ``code`` may start with import lines; they go to the top of the file.
    """
    code = textwrap.dedent(code).strip("\n")
    new = ast.parse(code)
    names = {n.name for n in new.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    imports = [
        ast.get_source_segment(code, n)
        for n in new.body
        if isinstance(n, (ast.Import, ast.ImportFrom))
    ]
    body = "\n\n\n".join(
        ast.get_source_segment(code, n)
        for n in new.body
        if not isinstance(n, (ast.Import, ast.ImportFrom))
    )
    old = ast.parse(source)
    lines = source.splitlines()
    drop, rename = [], []
    for n in old.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names:
            start = min([n.lineno] + [d.lineno for d in n.decorator_list])
            if f"_original_{n.name}" in code:  # the mutant wraps the correct version
                rename.append((n.lineno, n.name))
            else:
                drop.append((start, n.end_lineno))
    for lineno, name in rename:
        lines[lineno - 1] = lines[lineno - 1].replace(f"def {name}(", f"def _original_{name}(", 1)
    for start, end in sorted(drop, reverse=True):
        del lines[start - 1 : end]
    out = "\n".join(lines)
    if imports:
        # after the module docstring and any __future__ import
        doc_end = old.body[0].end_lineno if isinstance(old.body[0], ast.Expr) else 0
        head, tail = out.splitlines()[:doc_end], out.splitlines()[doc_end:]
        out = "\n".join(head + [""] + imports + tail)
    return out + "\n\n\n" + body + "\n"


def make_submission(tmp: Path, exercise: str, replacements: list[str]) -> Path:
    """A copy of solutions/<exercise> in tmp/<exercise> with code spliced in."""
    dest = tmp / exercise
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "solutions" / exercise, dest)
    spec = load_spec(exercise)
    for code in replacements:
        body = ast.parse(textwrap.dedent(code)).body
        defined = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        owners = [
            f
            for f in spec.files
            if defined
            & {
                r.rsplit(":", 1)[1]
                for fs in [spec.files[f]]
                for r in (*fs.tasks, *fs.parts, *fs.helpers)
            }
        ]
        if not owners and len(spec.files) == 1:  # code that binds a task some other way
            owners = list(spec.files)
        if not owners:
            raise ValueError(f"no file of {exercise} defines what this code replaces:\n{code}")
        target = owners[0]
        path = dest / target
        path.write_text(splice(path.read_text(), code))
    return dest


def restrict(spec: Exercise, tasks: set[str]) -> Exercise:
    checks = tuple(c for c in spec.checks if c.task in tasks)
    return dataclasses.replace(spec, checks=checks)


def grade_folder(
    folder: Path,
    exercise: str,
    tasks: set[str] | None = None,
    checks: set[str] | None = None,
    **opts,
):
    """Grades a folder, restricted to some tasks or to some named checks."""
    spec = load_spec(exercise)
    if tasks is not None:
        spec = restrict(spec, tasks)
    if checks is not None:
        spec = dataclasses.replace(spec, checks=tuple(c for c in spec.checks if c.id in checks))
    files = [str(folder / f) for f in spec.files]
    return grade(spec, str(folder), files, Options(**opts), str(folder))


def rounds(spec: Exercise, items) -> list[list]:
    """Packs items (with ``.task``) into groups whose tasks never call each other."""
    uses: dict[str, set[str]] = {}
    for c in spec.checks:
        uses.setdefault(c.task, set()).update(c.uses)
    groups: list[list] = []
    for item in items:
        for g in groups:
            tasks = {x.task for x in g}
            linked = item.task in tasks or any(
                item.task in uses.get(t, ()) or t in uses.get(item.task, ()) for t in tasks
            )
            if not linked:
                g.append(item)
                break
        else:
            groups.append([item])
    return groups


def grade_here(
    folder: Path, exercise: str, tasks: set[str] | None = None, checks: set[str] | None = None
):
    """Trusted code graded in this process, restricted to some tasks or check ids."""
    spec = load_spec(exercise)
    if tasks is not None:
        spec = restrict(spec, tasks)
    return grade_local(spec, folder, checks=checks)


@dataclasses.dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cmdline: bytes
    cwd: str


def live_processes() -> list[Proc]:
    """Every live (not zombie) process this user can see, from /proc: what the lifecycle
    tests look through for workers, fork servers and daemons left behind."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read()
            cwd = os.readlink(f"/proc/{name}/cwd")
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found.append(Proc(int(name), int(fields[1]), cmd, cwd))
    return found
