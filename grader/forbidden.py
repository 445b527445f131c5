"""Static detection of forbidden calls in a learner's file (read, never executed).

Import aliases (``import jax.nn as nn``, ``from jax import nn``, ``from optax import adam as
a``) and module-level assignments (``f = jax.nn.relu``) are resolved to qualified names.
A task is every binding of its name at module scope, not only its ``def``: a task bound by
an import (``from jax.nn import relu``) or an assignment (``relu = jax.jit(jax.nn.relu)``,
``relu = _mine``), even one after the ``def`` or inside an ``if``, is checked too. Every
name a binding uses, and every module-level binding it refers to (transitively), is checked
against the exercise's forbidden patterns (``fnmatch`` style, a pattern also
matching anything under it: ``jax.nn`` forbids ``jax.nn.relu``). Strings naming a forbidden
module (``importlib.import_module("jax.nn")``) count too.
"""

from __future__ import annotations

import ast
import fnmatch

ALWAYS = ("dlcore", "solutions", "grader", "exercises")


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _module_scope(body):
    """Statements run at module scope: the top level and the blocks of its if/for/while/
    with/try statements, not the bodies of functions and classes."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _module_scope(getattr(node, field, None) or [])
        for handler in getattr(node, "handlers", None) or []:
            yield from _module_scope(handler.body)
        for case in getattr(node, "cases", None) or []:
            yield from _module_scope(case.body)


def _targets(node) -> list[str]:
    """Names a module-scope statement binds to a value (not imports)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target] if node.value is not None else []
    elif isinstance(node, ast.NamedExpr):
        targets = [node.target]
    else:
        return []
    names = []
    for t in targets:
        names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


class _Module:
    def __init__(self, tree: ast.Module):
        self.aliases: dict[str, str] = {}
        # every module-scope binding of a name: a def/class node, an assigned value, or
        # an import (kept as the qualified name it binds)
        self.bindings: dict[str, list] = {}
        self.imports: list[tuple[str, int]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports.append((a.name, node.lineno))
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        root = a.name.split(".")[0]
                        self.aliases.setdefault(root, root)
            elif isinstance(node, ast.ImportFrom):
                base = ("." * node.level) + (node.module or "")
                self.imports.append((base, node.lineno))
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{base}.{a.name}"
        for node in _module_scope(tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bindings.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    bound = a.asname or a.name.split(".")[0]
                    full = a.name if a.asname else bound
                    const = ast.Constant(full, lineno=node.lineno)
                    self.bindings.setdefault(bound, []).append(const)
            elif isinstance(node, ast.ImportFrom):
                base = ("." * node.level) + (node.module or "")
                for a in node.names:
                    self.bindings.setdefault(a.asname or a.name, []).append(
                        ast.Constant(f"{base}.{a.name}", lineno=node.lineno))
            for name in _targets(node):
                self.bindings.setdefault(name, []).append(node.value)
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                name = _dotted(node.value)
                if isinstance(target, ast.Name) and name:
                    self.aliases[target.id] = self.resolve(name) or name
        # a walrus anywhere at module scope binds too
        for node in ast.walk(tree):
            if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                self.bindings.setdefault(node.target.id, []).append(node.value)

    def resolve(self, dotted: str) -> str | None:
        head, _, rest = dotted.partition(".")
        if head not in self.aliases:
            return None
        base = self.aliases[head]
        return f"{base}.{rest}" if rest else base

    def uses(self, node) -> list[tuple[str, int]]:
        """Qualified names (and module-level function names) a node refers to."""
        out = []
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Attribute, ast.Name)):
                d = _dotted(sub)
                if d:
                    q = self.resolve(d)
                    out.append((q or d, getattr(sub, "lineno", 0)))
            elif (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, str)
                and sub.value
                and not any(ch.isspace() for ch in sub.value)
            ):
                out.append((sub.value, getattr(sub, "lineno", 0)))
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                mod = sub.module if isinstance(sub, ast.ImportFrom) else None
                for a in sub.names:
                    full = f"{mod}.{a.name}" if mod else a.name
                    out.append((full, sub.lineno))
        return out


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")


def find_violations(source: str, tasks: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """``{task: message}`` for each task whose code uses one of its forbidden names.

    ``tasks`` maps each task to its forbidden patterns; importing dlcore, solutions, grader
    or exercises anywhere in the file is a violation for every task.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    mod = _Module(tree)
    out: dict[str, str] = {}
    for name, line in mod.imports:
        root = name.lstrip(".").split(".")[0]
        if name.startswith(".") or root in ALWAYS:
            for task in tasks:
                out[task] = (
                    f"line {line} imports {name!r}: answers may not come from "
                    "dlcore, solutions or grader"
                )
            return out
    for task, patterns in tasks.items():
        if patterns and task in mod.bindings:
            found = _first_violation(mod, task, patterns)
            if found:
                out[task] = found
    return out


def _first_violation(mod: _Module, task: str, patterns) -> str | None:
    """Follows every binding of ``task`` and of the module-level names it refers to."""
    seen, todo = set(), [task]
    while todo:
        fname = todo.pop()
        if fname in seen:
            continue
        seen.add(fname)
        for node in mod.bindings.get(fname, []):
            for used, line in mod.uses(node):
                if used in mod.bindings and used != fname:
                    todo.append(used)
                for pat in patterns:
                    if _matches(used, pat):
                        if fname != task:
                            via = f" (in {fname}, which {task} uses)"
                        elif isinstance(node, ast.Constant):
                            via = " (it is the upstream function itself)"
                        else:
                            via = ""
                        return (f"{task} uses {used} at line {line}{via}; "
                                f"the task is to implement it without {pat}")
    return None


def _upstream_objects(patterns) -> dict[int, str]:
    """``{id(obj): public name}`` for the callables the patterns name, from modules already
    imported (an object of a module nobody imported cannot be the learner's task)."""
    import sys

    found: dict[int, str] = {}
    for pat in patterns:
        stem = []
        for part in pat.split("."):
            if any(ch in part for ch in "*?["):
                break
            stem.append(part)
        for cut in range(len(stem), 0, -1):
            mod = sys.modules.get(".".join(stem[:cut]))
            if mod is None:
                continue
            obj, name = mod, ".".join(stem[:cut])
            try:
                for attr in stem[cut:]:
                    obj, name = getattr(obj, attr), f"{name}.{attr}"
            except AttributeError:
                break
            members = vars(obj).items() if isinstance(obj, type(sys)) else [(None, obj)]
            for key, member in members:
                full = name if key is None else f"{name}.{key}"
                if callable(member) and (key is None or _matches(full, pat)):
                    found.setdefault(id(member), full)
            break
    return found


def _unwrapped(obj, depth: int = 8) -> list:
    """``obj`` and what it wraps: ``functools.partial``'s func, ``__wrapped__`` (jit, wraps)."""
    out = []
    for _ in range(depth):
        out.append(obj)
        nxt = None
        for attr in ("__wrapped__", "func"):
            try:
                nxt = getattr(obj, attr, None)
            except BaseException:  # noqa: B036 - a learner's property may raise anything
                nxt = None
            if nxt is not None and callable(nxt):
                break
            nxt = None
        if nxt is None:
            break
        obj = nxt
    return out


def identity_violations(namespace: dict, tasks: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """``{task: message}`` for each task whose loaded object is (or wraps) a forbidden upstream
    function: what the static reading cannot see (``globals()["relu"] = getattr(...)``).
    Runs in the worker, after the learner's files are loaded."""
    out = {}
    for task, patterns in tasks.items():
        obj = namespace.get(task)
        if obj is None or not patterns:
            continue
        upstream = _upstream_objects(patterns)
        for inner in _unwrapped(obj):
            name = upstream.get(id(inner))
            if name is not None:
                out[task] = (f"{task} is {name} itself (bound when the file ran); "
                             "the task is to implement it")
                break
    return out
