"""Static detection of forbidden calls in a learner's file (read, never executed).

Import aliases (``import jax.nn as nn``, ``from jax import nn``, ``from optax import adam as
a``) and module-level assignments (``f = jax.nn.relu``) are resolved to qualified names;
every name a task function uses, and every module-level function it calls (transitively),
is checked against the exercise's forbidden patterns (``fnmatch`` style, a pattern also
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


class _Module:
    def __init__(self, tree: ast.Module):
        self.aliases: dict[str, str] = {}
        self.functions: dict[str, ast.AST] = {}
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
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                name = _dotted(node.value)
                if isinstance(target, ast.Name) and name:
                    self.aliases[target.id] = self.resolve(name) or name

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
        if task not in mod.functions or not patterns:
            continue
        seen, todo = set(), [task]
        while todo and task not in out:
            fname = todo.pop()
            if fname in seen:
                continue
            seen.add(fname)
            for used, line in mod.uses(mod.functions[fname]):
                if used in mod.functions and used != fname:
                    todo.append(used)
                for pat in patterns:
                    if _matches(used, pat):
                        via = "" if fname == task else f" (in {fname}, which {task} calls)"
                        out[task] = (
                            f"{task} uses {used} at line {line}{via}; "
                            f"the task is to implement it without {pat}"
                        )
                        break
                if task in out:
                    break
    return out
