"""Writes exercises/qNN/*.py (stubs) and solutions/qNN/*.py (solved) from dlcore's source.

One implementation of each concept lives in dlcore; the files learners see are derived:

- a solution file holds the exercise's tasks, parts and helpers copied verbatim from dlcore,
  with every private helper they need and exactly the imports they use;
- a stub file holds the same signatures and docstrings with bodies that raise
  NotImplementedError naming the task, plus the given helpers, solved.

Which dlcore functions make up each file is declared in ``grader/specs/qNN.py``
(``Exercise.files``), the same place the grader reads its checks from.

    python tools/gen_exercises.py            # write every file
    python tools/gen_exercises.py --check    # exit 1 listing files that drifted
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_STUB_WORD = "NotImplemented" + "Error"  # keeps the word itself out of dlcore and solutions


@dataclass
class _Module:
    name: str
    source: str
    tree: ast.Module
    defs: dict[str, ast.stmt] = field(default_factory=dict)
    consts: dict[str, ast.stmt] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    future: bool = False


_CACHE: dict[str, _Module] = {}


def _module(name: str) -> _Module:
    if name in _CACHE:
        return _CACHE[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"gen_exercises: cannot find module {name}")
    source = Path(spec.origin).read_text()
    tree = ast.parse(source)
    mod = _Module(name, source, tree)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            mod.defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id != "__all__":
                    mod.consts[t.id] = node
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            mod.future = True
        elif isinstance(node, ast.Import):
            for a in node.names:
                bound = a.asname or a.name.split(".")[0]
                mod.imports[bound] = (
                    "import",
                    a.name if a.asname else a.name.split(".")[0],
                    a.asname,
                )
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                mod.imports[a.asname or a.name] = ("from", node.module, a.name, a.asname)
    _CACHE[name] = mod
    return mod


def _segment(mod: _Module, node: ast.stmt) -> str:
    lines = mod.source.splitlines()
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1 : node.end_lineno])


def _names(nodes) -> set[str]:
    out = set()
    for node in nodes:
        if node is None:
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
    return out


def _signature_nodes(fn: ast.FunctionDef) -> list:
    a = fn.args
    every = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]
    return (
        [x.annotation for x in every]
        + a.defaults
        + [d for d in a.kw_defaults if d]
        + [fn.returns]
        + fn.decorator_list
    )


class _File:
    """Collects the pieces of one generated file."""

    def __init__(self, where: str):
        self.where = where
        self.imports: set[str] = set()
        self.blocks: list[tuple[str, str]] = []  # (name, code)
        self.seen: dict[str, str] = {}
        self.future = False

    def need(
        self, mod: _Module, names: set[str], listed: dict[str, str], solved: bool, requester: str
    ) -> None:
        """Adds the imports, constants and private helpers that ``names`` refer to."""
        for n in sorted(names):
            if n in mod.imports:
                imp = mod.imports[n]
                if imp[0] == "from" and (imp[1] or "").split(".")[0] == "dlcore":
                    dep = f"{imp[1]}:{imp[2]}"
                    self._dependency(dep, listed, solved, requester)
                else:
                    self.imports.add(_import_line(imp))
            elif n in mod.consts:
                self.add(mod, n, solved=True, listed=listed, requester=requester)
            elif n in mod.defs and n != requester:
                self._dependency(f"{mod.name}:{n}", listed, solved, requester)

    def _dependency(self, ref: str, listed: dict[str, str], solved: bool, requester: str):
        name = ref.rsplit(":", 1)[1]
        if name in listed:
            return  # a task, part or helper of this file: emitted on its own
        if not solved:
            return  # a stub body is replaced; its private helpers are the learner's to write
        if not name.startswith("_"):
            raise SystemExit(
                f"gen_exercises: {self.where}: {requester} uses {ref}, which is "
                "public; list it in the FileSpec as a task, part or helper"
            )
        self.add(_module(ref.split(":")[0]), name, solved=True, listed=listed, requester=name)

    def add(
        self,
        mod: _Module,
        name: str,
        *,
        solved: bool,
        listed: dict[str, str],
        requester: str | None = None,
        exercise: str = "",
        stub_of: str = "",
        label: str = "",
    ) -> None:
        key = f"{mod.name}:{name}"
        if name in self.seen:
            if self.seen[name] != key:
                raise SystemExit(f"gen_exercises: {self.where}: two definitions named {name}")
            return
        self.seen[name] = key
        self.future |= mod.future
        node = mod.defs.get(name) or mod.consts.get(name)
        if node is None:
            raise SystemExit(f"gen_exercises: {key} not found")
        if solved or not isinstance(node, ast.FunctionDef):
            self.need(mod, _names([node]), listed, True, name)
            code = _segment(mod, node)
        else:
            self.need(mod, _names(_signature_nodes(node)), listed, False, name)
            code = _stub(mod, node, exercise, stub_of)
        if label:
            code = f"# {label}\n{code}"
        self.blocks.append((name, code))

    def render(self, docstring: str) -> str:
        order = lambda line: (line.startswith("from "), line)  # isort: plain imports first
        imports = _merge_from_imports(self.imports)
        std = sorted((i for i in imports if _is_std(i)), key=order)
        third = sorted((i for i in imports if not _is_std(i)), key=order)
        head = [f'"""{docstring}"""', ""]
        if self.future:
            head += ["from __future__ import annotations", ""]
        if std:
            head += std + [""]
        if third:
            head += third + [""]
        body = []
        is_def = lambda c: c.lstrip().startswith(("def ", "class ", "@", "# "))
        consts = [c for n, c in self.blocks if not is_def(c)]
        defs = [c for n, c in self.blocks if is_def(c)]
        if consts:
            body.append("\n".join(consts))
        body += defs
        return "\n".join(head).rstrip("\n") + "\n\n\n" + "\n\n\n".join(body) + "\n"


def _merge_from_imports(lines: set[str]) -> set[str]:
    """``from typing import Any`` + ``from typing import NamedTuple`` -> one line."""
    merged: dict[str, list[str]] = {}
    out = set()
    for line in lines:
        if line.startswith("from "):
            module, _, names = line[len("from ") :].partition(" import ")
            merged.setdefault(module, []).append(names)
        else:
            out.add(line)
    for module, names in merged.items():
        out.add(f"from {module} import {', '.join(sorted(names))}")
    return out


def _import_line(imp) -> str:
    if imp[0] == "import":
        return f"import {imp[1]} as {imp[2]}" if imp[2] else f"import {imp[1]}"
    _, module, name, asname = imp
    return f"from {module} import {name}" + (f" as {asname}" if asname else "")


_STDLIB = set(sys.stdlib_module_names)


def _is_std(line: str) -> bool:
    return line.split()[1].split(".")[0] in _STDLIB


def _stub(mod: _Module, fn: ast.FunctionDef, exercise: str, task: str) -> str:
    lines = mod.source.splitlines()
    first_body = fn.body[0]
    has_doc = (
        isinstance(first_body, ast.Expr)
        and isinstance(getattr(first_body, "value", None), ast.Constant)
        and isinstance(first_body.value.value, str)
    )
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
    end_head = first_body.end_lineno if has_doc else fn.body[0].lineno - 1
    head = lines[start - 1 : end_head]
    indent = " " * (first_body.col_offset)
    message = f"{exercise} {task}: write this function (see README.md)"
    return "\n".join(head + [f"{indent}raise {_STUB_WORD}({message!r})"])


def generate(exercise) -> dict[Path, str]:
    """Every file this exercise derives, path -> text."""
    out: dict[Path, str] = {}
    for fname, fs in exercise.files.items():
        listed = {r.rsplit(":", 1)[1]: r for r in (*fs.helpers, *fs.parts, *fs.tasks)}
        modules = sorted({r.split(":")[0] for r in listed.values()})
        solution_imports: set[str] = set()
        for solved, folder in ((True, "solutions"), (False, "exercises")):
            where = f"{folder}/{exercise.id}/{fname}"
            f = _File(where)
            # a stub offers the same imports as the solution: the tools it is written with
            f.imports |= solution_imports
            for ref in fs.helpers:
                f.add(
                    _module(ref.split(":")[0]),
                    ref.rsplit(":", 1)[1],
                    solved=True,
                    listed=listed,
                    label="" if solved else "Given: use it as it is.",
                )
            for ref in (*fs.parts, *fs.tasks):
                part = ref in fs.parts
                f.add(
                    _module(ref.split(":")[0]),
                    ref.rsplit(":", 1)[1],
                    solved=solved,
                    listed=listed,
                    exercise=exercise.id,
                    stub_of=ref.rsplit(":", 1)[1],
                    label=""
                    if solved
                    else (
                        "A building block: not graded by itself, but the tasks below may use it."
                        if part
                        else "Task: graded."
                    ),
                )
            tasks = ", ".join(r.rsplit(":", 1)[1] for r in fs.tasks)
            if solved:
                solution_imports = set(f.imports)
                doc = (
                    f"{exercise.id} {exercise.title}: reference solution.\n\n"
                    f"Generated from {', '.join(modules)} by tools/gen_exercises.py; "
                    "edit dlcore, then\nregenerate. Graded tasks: " + tasks + ".\n"
                )
            else:
                doc = (
                    f"{exercise.id} {exercise.title}: {fs.summary or 'your implementation'}."
                    f"\n\nGraded tasks: {tasks}.\nReplace each `raise {_STUB_WORD}(...)` "
                    "with your code; read README.md first.\nCheck your work with: "
                    f"python -m grader exercises/{exercise.id}\n"
                )
            out[ROOT / folder / exercise.id / fname] = f.render(doc)
    return out


def main(argv=None) -> int:
    from grader.spec import available_exercises, load_spec

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="report drift, write nothing")
    p.add_argument("exercises", nargs="*", help="only these (default: all with a spec)")
    args = p.parse_args(argv)
    drift = []
    for ex_id in args.exercises or available_exercises():
        for path, text in generate(load_spec(ex_id)).items():
            old = path.read_text() if path.exists() else None
            if old == text:
                continue
            rel = path.relative_to(ROOT)
            if args.check:
                drift.append(str(rel))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {rel}")
    if drift:
        print("out of date (run python tools/gen_exercises.py):\n  " + "\n  ".join(drift))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
