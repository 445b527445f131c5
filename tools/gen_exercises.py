"""Writes exercises/qNN/*.py (stubs) and solutions/qNN/*.py (solved) from dlcore's source.

One implementation of each concept lives in dlcore; the files learners see are derived:

- a solution file holds the exercise's tasks, parts and helpers copied verbatim from dlcore,
  with every private helper they need and exactly the imports they use;
- a stub file holds the same signatures and docstrings with bodies that raise
  NotImplementedError naming the task, plus the given helpers, solved. A class task keeps
  its class statement, fields and method signatures; each method body raises. A function
  registered with ``f.defvjp(fwd, bwd)`` (``jax.custom_vjp``) or ``f.defjvp(jvp)`` brings
  its rules and the registration along: solved in a solution, stubbed in a stub.
- a file that uses a function the exercise places in another of its files imports it by
  the file's name: ``from losses import softmax_cross_entropy``.

Which dlcore functions make up each file is declared in ``grader/specs/qNN.py``
(``Exercise.files``), the same place the grader reads its checks from. A dlcore module that
breaks the source rules of CONTRIBUTING.md is an error naming the file and line.

    python tools/gen_exercises.py            # write every file
    python tools/gen_exercises.py --check    # exit 1 listing files that drifted
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_STUB_WORD = "NotImplemented" + "Error"  # keeps the word itself out of dlcore and solutions
_REGISTER = ("defvjp", "defjvp")  # f.defvjp(fwd, bwd), f.defjvp(jvp)


class GenerationError(Exception):
    """A dlcore module or a FileSpec the generator cannot turn into files."""


# ---- source rules ------------------------------------------------------------------------


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _registration(node: ast.stmt) -> tuple[str, str, list[str]] | None:
    """``f.defvjp(fwd, bwd)`` -> ("f", "defvjp", ["fwd", "bwd"]); None for anything else."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    fn = call.func
    if not (
        isinstance(fn, ast.Attribute) and fn.attr in _REGISTER and isinstance(fn.value, ast.Name)
    ):
        return None
    if call.keywords or not call.args or not all(isinstance(a, ast.Name) for a in call.args):
        return None
    return fn.value.id, fn.attr, [a.id for a in call.args]


def _decorator_registration(node: ast.stmt) -> str | None:
    """``@f.defjvp`` above a def -> "f"."""
    for d in getattr(node, "decorator_list", []):
        if isinstance(d, ast.Attribute) and d.attr in _REGISTER and isinstance(d.value, ast.Name):
            return d.value.id
    return None


def module_problems(source: str, filename: str, *, package: str = "dlcore") -> list[str]:
    """Every break of CONTRIBUTING.md's source rules in one module, as ``file:line: what``.

    ``package`` is the library's top-level package (the one whose imports are dependencies).
    A package ``__init__.py`` may import from its own package inside functions (lazy
    re-exports); no other module may, since a copied function would carry the import along.
    """
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        return [f"{filename}:{e.lineno}: does not parse: {e.msg}"]
    out: list[str] = []

    def bad(node, what):
        out.append(f"{filename}:{node.lineno}: {what}")

    def ours(module: str | None) -> bool:
        return (module or "").split(".")[0] == package

    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for i, node in enumerate(tree.body):
        text = ast.unparse(node).splitlines()[0][:70]
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            target = _decorator_registration(node)
            if target is not None and target not in defs:
                bad(node, f"`@{target}.def...`: {target} must be a top-level def of this module")
            continue
        if i == 0 and _is_docstring(node):
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if "." in a.name and not a.asname and not ours(a.name):
                    bad(
                        node,
                        f"`{text}` binds only `{a.name.split('.')[0]}`; write "
                        f"`import {a.name} as name` or `from ... import ...`",
                    )
                if ours(a.name):
                    bad(
                        node,
                        f"`{text}`: import {package} functions by name, "
                        f"`from {package}.module import name`",
                    )
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                bad(node, f"`{text}`: relative import; write `from {package}.module import name`")
            elif any(a.name == "*" for a in node.names):
                bad(node, f"`{text}`: star import; import each name")
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            continue
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            continue
        reg = _registration(node)
        if reg is not None:
            missing = [n for n in (reg[0], *reg[2]) if n not in defs]
            if missing:
                bad(node, f"`{text}`: {', '.join(missing)} must be top-level defs of this module")
            continue
        bad(
            node,
            f"top-level statement `{text}` is not supported by tools/gen_exercises.py "
            "(allowed: docstring, imports, def, class, constants `NAME = ...`, "
            "`f.defvjp(fwd, bwd)`, `f.defjvp(jvp)`)",
        )
    if not filename.endswith("__init__.py"):
        for fn in tree.body:
            if not isinstance(fn, (ast.FunctionDef, ast.ClassDef)):
                continue
            for sub in ast.walk(fn):
                if isinstance(sub, ast.ImportFrom) and (sub.level or ours(sub.module)):
                    bad(sub, f"`{ast.unparse(sub)}` inside {fn.name}: import at the top")
                elif isinstance(sub, ast.Import) and any(ours(a.name) for a in sub.names):
                    bad(sub, f"`{ast.unparse(sub)}` inside {fn.name}: import at the top")
    doctest_import = re.compile(rf"^\s*(>>>|\.\.\.)\s.*\b(import|from)\s+{package}\b")
    for lineno, line in enumerate(source.splitlines(), 1):
        if _STUB_WORD in line:
            out.append(f"{filename}:{lineno}: the word {_STUB_WORD} is for stubs only")
        if doctest_import.match(line):
            out.append(f"{filename}:{lineno}: a doctest imports {package}; assume its names")
    return out


# ---- reading modules ---------------------------------------------------------------------


@dataclass
class _Module:
    name: str
    source: str
    tree: ast.Module
    defs: dict[str, ast.stmt] = field(default_factory=dict)
    consts: dict[str, ast.stmt] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    # function -> (rule functions to copy with it, registration statement or None)
    registrations: dict[str, list[tuple[list[str], ast.stmt | None]]] = field(default_factory=dict)
    future: bool = False


_CACHE: dict[str, _Module] = {}


def _module(name: str) -> _Module:
    if name in _CACHE:
        return _CACHE[name]
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        raise GenerationError(f"gen_exercises: cannot find module {name}")
    path = Path(spec.origin)
    source = path.read_text()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    problems = module_problems(source, shown, package=name.split(".")[0])
    if problems:
        raise GenerationError("gen_exercises: source rules broken:\n  " + "\n  ".join(problems))
    tree = ast.parse(source)
    mod = _Module(name, source, tree)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            mod.defs[node.name] = node
            target = _decorator_registration(node)
            if target is not None:
                mod.registrations.setdefault(target, []).append(([node.name], None))
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
        elif (reg := _registration(node)) is not None:
            mod.registrations.setdefault(reg[0], []).append((reg[2], node))
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


def _methods(cls: ast.ClassDef) -> list[ast.FunctionDef]:
    return [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _class_interface_nodes(cls: ast.ClassDef) -> tuple[list, list]:
    """(nodes of the signature parts: decorators, bases, method signatures; class-level
    statements kept as they are, e.g. fields)."""
    head = [*cls.decorator_list, *cls.bases, *(k.value for k in cls.keywords)]
    kept = []
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            head += _signature_nodes(node)
        elif not _is_docstring(node):
            kept.append(node)
    return head, kept


# ---- one generated file ------------------------------------------------------------------


class _File:
    """Collects the pieces of one generated file."""

    def __init__(self, where: str, elsewhere: dict[str, tuple[str, str]] | None = None):
        self.where = where
        self.imports: set[str] = set()
        self.siblings: dict[str, set[str]] = {}  # learner module -> names imported from it
        self.elsewhere = elsewhere or {}  # name -> (ref, learner module) in the exercise
        self.blocks: list[tuple[str, str, str]] = []  # (name, kind, code)
        self.registrations: list[tuple[list[str], str]] = []  # (functions, statement)
        self.seen: dict[str, str] = {}
        self.future = False

    def need(
        self, mod: _Module, names: set[str], listed: dict[str, str], solved: bool, requester: str
    ) -> None:
        """Adds the imports, constants and private helpers that ``names`` refer to."""
        package = mod.name.split(".")[0]
        for n in sorted(names):
            if n in mod.imports:
                imp = mod.imports[n]
                if imp[0] == "from" and (imp[1] or "").split(".")[0] == package:
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
            if listed[name] != ref:
                raise GenerationError(
                    f"gen_exercises: {self.where}: {requester} uses {ref}, but the FileSpec "
                    f"lists {listed[name]} under the same name"
                )
            return  # a task, part or helper of this file: emitted on its own
        if not solved:
            return  # a stub body is replaced; its private helpers are the learner's to write
        if name in self.elsewhere:
            other, learner_module = self.elsewhere[name]
            if other != ref:
                raise GenerationError(
                    f"gen_exercises: {self.where}: {requester} uses {ref}, but the exercise "
                    f"lists {other} under the same name"
                )
            self.siblings.setdefault(learner_module, set()).add(name)
            return
        if not name.startswith("_"):
            raise GenerationError(
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
                raise GenerationError(f"gen_exercises: {self.where}: two definitions named {name}")
            return
        self.seen[name] = key
        self.future |= mod.future
        node = mod.defs.get(name) or mod.consts.get(name)
        if node is None:
            raise GenerationError(
                f"gen_exercises: {key} not found (is it defined at the top of {mod.name}, "
                "not re-exported from elsewhere?)"
            )
        whole = solved or not isinstance(node, (ast.FunctionDef, ast.ClassDef))
        if isinstance(node, ast.ClassDef) and not _methods(node):
            whole = True  # a NamedTuple state or a plain record: nothing to write
        if whole:
            self.need(mod, _names([node]), listed, True, name)
            code = _segment(mod, node)
        elif isinstance(node, ast.FunctionDef):
            # the signature stays in the stub: what it names is copied solved
            self.need(mod, _names(_signature_nodes(node)), listed, True, name)
            code = _stub(mod, node, exercise, stub_of)
        else:
            head, kept = _class_interface_nodes(node)
            self.need(mod, _names(head + kept), listed, True, name)
            code = _stub_class(mod, node, exercise)
        if label:
            code = f"# {label}\n{code}"
        kind = "def" if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else "const"
        self.blocks.append((name, kind, code))
        for rules, statement in mod.registrations.get(name, []):
            for rule in rules:
                if rule not in listed:  # a rule listed in the FileSpec is emitted on its own
                    self.add(
                        mod,
                        rule,
                        solved=solved,
                        listed=listed,
                        requester=name,
                        exercise=exercise,
                        stub_of=rule,
                    )
            if statement is not None:
                self.registrations.append(([name, *rules], _segment(mod, statement)))

    def render(self, docstring: str) -> str:
        order = lambda line: (line.startswith("from "), line)  # isort: plain imports first
        imports = _merge_from_imports(self.imports)
        std = sorted((i for i in imports if _is_std(i)), key=order)
        third = sorted((i for i in imports if not _is_std(i)), key=order)
        local = [
            f"from {m} import {', '.join(sorted(names))}"
            for m, names in sorted(self.siblings.items())
        ]
        head = [f'"""{docstring}"""', ""]
        if self.future:
            head += ["from __future__ import annotations", ""]
        for group in (std, third, local):
            if group:
                head += group + [""]
        body = []
        consts = [c for n, k, c in self.blocks if k == "const"]
        defs = [(n, c) for n, k, c in self.blocks if k == "def"]
        if consts:
            body.append("\n".join(consts))
        after: dict[int, list[str]] = {}
        position = {n: i for i, (n, _) in enumerate(defs)}
        for names, statement in self.registrations:
            missing = [n for n in names if n not in position]
            if missing:
                raise GenerationError(
                    f"gen_exercises: {self.where}: `{statement}` needs {', '.join(missing)} "
                    "in the same file"
                )
            after.setdefault(max(position[n] for n in names), []).append(statement)
        for i, (_, code) in enumerate(defs):
            body.append(code)
            body += after.get(i, [])
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


# ---- stubs -------------------------------------------------------------------------------


def _header_end(lines: list[str], fn: ast.FunctionDef) -> int:
    """The line (1-based) holding the colon that ends ``def ...(...) -> ...:``."""
    text = "\n".join(lines[fn.lineno - 1 : fn.body[0].lineno]) + "\n"
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(text.lstrip()).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return fn.lineno + tok.start[0] - 1
    raise GenerationError(f"gen_exercises: cannot find the end of `def {fn.name}`")


def _stub_lines(lines: list[str], fn: ast.FunctionDef, message: str) -> list[str]:
    """The def's decorators, signature and docstring, then one ``raise`` line."""
    first = fn.body[0]
    end_head = first.end_lineno if _is_docstring(first) else _header_end(lines, fn)
    if first.lineno <= _header_end(lines, fn):
        raise GenerationError(
            f"gen_exercises: cannot stub `def {fn.name}`: its body starts on the def line"
        )
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
    indent = " " * first.col_offset
    return lines[start - 1 : end_head] + [f"{indent}raise {_STUB_WORD}({message!r})"]


def _stub(mod: _Module, fn: ast.FunctionDef, exercise: str, task: str) -> str:
    message = f"{exercise} {task}: write this function (see README.md)"
    return "\n".join(_stub_lines(mod.source.splitlines(), fn, message))


def _stub_class(mod: _Module, cls: ast.ClassDef, exercise: str) -> str:
    """The class as written, but each method's body replaced by a ``raise``: decorators,
    bases, docstring, fields, comments and method signatures stay."""
    lines = mod.source.splitlines()
    start = min([cls.lineno] + [d.lineno for d in cls.decorator_list])
    out: list[str] = []
    cursor = start  # next source line to copy
    for node in cls.body:
        if isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef)):
            raise GenerationError(
                f"gen_exercises: {mod.name}:{node.lineno}: cannot stub {cls.name}.{node.name}: "
                "only plain methods are stubbed"
            )
        if not isinstance(node, ast.FunctionDef):
            continue
        method_start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        out += lines[cursor - 1 : method_start - 1]
        message = f"{exercise} {cls.name}.{node.name}: write this method (see README.md)"
        out += _stub_lines(lines, node, message)
        cursor = node.end_lineno + 1
    out += lines[cursor - 1 : cls.end_lineno]
    return "\n".join(out)


# ---- an exercise -------------------------------------------------------------------------


def _learner_modules(exercise) -> dict[str, tuple[str, str]]:
    """Name -> (ref, learner module) for every name the exercise's FileSpecs list."""
    out: dict[str, tuple[str, str]] = {}
    for fname, fs in exercise.files.items():
        for ref in (*fs.helpers, *fs.parts, *fs.tasks):
            out.setdefault(ref.rsplit(":", 1)[1], (ref, Path(fname).stem))
    return out


def _check_sibling_imports(exercise, imports: dict[str, set[str]]) -> None:
    """A learner module imported by a sibling needs a name no installed module has, comes
    before its importers in ``Exercise.files``, and the imports do not go round in a circle."""
    for users in imports.values():
        for stem in users:
            if not stem.isidentifier() or stem.split(".")[0] in _STDLIB:
                raise GenerationError(
                    f"gen_exercises: {exercise.id}: file {stem}.py is imported by a sibling; "
                    "its name must be an identifier no other module has"
                )
            if stem in ("dlcore", "solutions", "grader", "exercises") or (
                importlib.util.find_spec(stem) is not None
            ):
                raise GenerationError(
                    f"gen_exercises: {exercise.id}: file {stem}.py is imported by a sibling, "
                    f"but `import {stem}` already finds another module; rename the file"
                )

    def visit(stem: str, path: tuple[str, ...]) -> None:
        if stem in path:
            loop = " -> ".join((*path[path.index(stem) :], stem))
            raise GenerationError(f"gen_exercises: {exercise.id}: files import in a circle: {loop}")
        for nxt in imports.get(stem, ()):
            visit(nxt, (*path, stem))

    for stem in imports:
        visit(stem, ())
    # the grader runs the files in the order the exercise declares them, so a file's
    # module is complete before a later file imports from it
    order = [Path(f).stem for f in exercise.files]
    for user, used in imports.items():
        late = sorted(u for u in used if order.index(u) > order.index(user))
        if late:
            raise GenerationError(
                f"gen_exercises: {exercise.id}: {user}.py imports from "
                f"{', '.join(u + '.py' for u in late)}; declare "
                f"{'it' if len(late) == 1 else 'them'} before {user}.py in Exercise.files"
            )


def generate(exercise) -> dict[Path, str]:
    """Every file this exercise derives, path -> text."""
    out: dict[Path, str] = {}
    everywhere = _learner_modules(exercise)
    sibling_imports: dict[str, set[str]] = {}
    for fname, fs in exercise.files.items():
        listed = {r.rsplit(":", 1)[1]: r for r in (*fs.helpers, *fs.parts, *fs.tasks)}
        elsewhere = {
            n: v for n, v in everywhere.items() if v[1] != Path(fname).stem and n not in listed
        }
        modules = sorted({r.split(":")[0] for r in listed.values()})
        solution_imports: set[str] = set()
        solution_siblings: dict[str, set[str]] = {}
        for solved, folder in ((True, "solutions"), (False, "exercises")):
            where = f"{folder}/{exercise.id}/{fname}"
            f = _File(where, elsewhere)
            # a stub offers the same imports as the solution: the tools it is written with
            f.imports |= solution_imports
            for m, names in solution_siblings.items():
                f.siblings[m] = set(names)
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
                solution_siblings = {m: set(n) for m, n in f.siblings.items()}
                sibling_imports[Path(fname).stem] = set(f.siblings)
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
    _check_sibling_imports(exercise, sibling_imports)
    return out


def main(argv=None) -> int:
    from grader.spec import available_exercises, load_spec

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="report drift, write nothing")
    p.add_argument("exercises", nargs="*", help="only these (default: all with a spec)")
    args = p.parse_args(argv)
    drift = []
    try:
        generated = {
            ex_id: generate(load_spec(ex_id)) for ex_id in args.exercises or available_exercises()
        }
    except GenerationError as e:
        print(e, file=sys.stderr)
        return 2
    for files in generated.values():
        for path, text in files.items():
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
