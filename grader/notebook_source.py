"""Notebook functions as source text, for :func:`grader.notebook.check`.

The worker runs learner code only from source text, so a function defined in a notebook
travels as its source (``inspect.getsource``; decorators included), with what it uses from
the notebook, found by :mod:`symtable` in that source: modules become imports, functions and
classes defined in the notebook come along as source (recursively), objects from installed
packages become ``from module import name``, and plain constants (numbers, strings, ``None``,
tuples, lists and dicts of them) are written out. Anything else (an array, a closure, a
lambda) cannot travel: the task then fails with a message that names it and says what to do.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import linecache
import math
import os
import re
import site
import symtable
import sys
import textwrap
import types

_HEADER = '"""Sent from a notebook by grader.check (written anew by every call)."""\n\n' \
    "from __future__ import annotations\n"


class _Unsendable(Exception):
    """Why an object cannot be written as source: ``message`` and ``hint``."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


def _literal(value, depth: int = 0) -> str | None:
    """Source text that rebuilds a plain constant, or None for anything else."""
    kind = type(value)
    if depth > 20:
        return None
    if value is None or kind in (bool, int, str, bytes):
        return repr(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if kind in (tuple, list):
        items = [_literal(v, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        if kind is tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if kind is dict:
        pairs = [(_literal(k, depth + 1), _literal(v, depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def _who(user: str, root: str) -> str:
    return user if user == root else f"{user} (which {root} calls)"


def from_notebook(obj) -> bool:
    """Whether ``obj`` was defined in the notebook (or the script) that runs the grader."""
    return getattr(obj, "__module__", None) == "__main__"


def _class_source(cls) -> str:
    """A notebook class's source: ``inspect`` cannot find it (``__main__`` has no file), so
    it is looked up in the cell that holds one of its methods."""
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        pass
    places = []  # (cell file, a line inside the class, or 0 for any)
    for attr in vars(cls).values():
        fn = getattr(attr, "__func__", None) or getattr(attr, "fget", None) or attr
        code = getattr(inspect.unwrap(fn), "__code__", None) if callable(fn) else None
        if code is not None:
            places.append((code.co_filename, code.co_firstlineno))
    if not places:  # a class without methods: the latest cell defining a class of that name
        cells = [f for f, entry in linecache.cache.items() if len(entry) == 4 and entry[1] is None]
        places = [(f, 0) for f in reversed(cells)]
    for filename, line in places:
        lines = linecache.getlines(filename)
        try:
            tree = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body if line == 0 else ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                if line == 0 or start <= line <= node.end_lineno:
                    return "".join(lines[start - 1:node.end_lineno])
    raise OSError("source code not available")


def _source(name: str, obj) -> tuple[str, object]:
    """The dedented source that defines ``obj`` and the plain function or class it holds."""
    raw = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
    if getattr(raw, "__name__", "") == "<lambda>":
        raise _Unsendable(f"{name} is a lambda, whose source the grader cannot send",
                          f"write it with def {name}(...): in a cell")
    if "<locals>" in getattr(raw, "__qualname__", ""):
        raise _Unsendable(f"{name} is defined inside another function ({raw.__qualname__})",
                          "define it at the top level of a cell")
    try:
        text = _class_source(raw) if isinstance(raw, type) else inspect.getsource(raw)
        node = ast.parse(textwrap.dedent(text)).body[0]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            raise OSError("not a def")
    except (OSError, TypeError, SyntaxError, IndexError):
        raise _Unsendable(f"the source of {name} was not found",
                          f"define {name} with def (or class) in a notebook cell and run "
                          "that cell again") from None
    if obj is not raw and not node.decorator_list:
        raise _Unsendable(f"{name} wraps {raw.__name__} (made by a call such as "
                          f"jax.jit({raw.__name__})), which the grader cannot rebuild",
                          f"put a decorator (@jax.jit) on def {raw.__name__}, or call jax.jit "
                          "inside the function")
    return textwrap.dedent(text), raw


def _rename(source: str, new: str) -> str:
    """``source`` with its ``def``/``class`` statement renamed to ``new``."""
    node = ast.parse(source).body[0]
    lines = source.splitlines(True)
    i = node.lineno - 1
    lines[i] = re.sub(rf"\b(def|class)(\s+){re.escape(node.name)}\b", rf"\1\2{new}", lines[i],
                      count=1)
    return "".join(lines)


def _globals_used(source: str) -> tuple[set[str], set[str]]:
    """(names the code needs from its module, names it uses only in annotations, which
    ``from __future__ import annotations`` leaves unevaluated)."""
    top = symtable.symtable(source, "<notebook>", "exec")
    needed = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    todo = list(top.get_children())
    while todo:
        table = todo.pop()
        todo += table.get_children()
        needed |= {s.get_name() for s in table.get_symbols()
                   if s.is_global() and s.is_referenced()}
    tree = ast.parse(source)
    notes, plain = set(), set()
    spans = [n.annotation for n in ast.walk(tree) if isinstance(n, (ast.arg, ast.AnnAssign))
             and n.annotation is not None]
    spans += [n.returns for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                                  ast.AsyncFunctionDef))
              and n.returns is not None]
    in_notes = {id(n) for s in spans for n in ast.walk(s)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (notes if id(n) in in_notes else plain).add(n.id)
    return needed, (notes - plain) & needed


def _worker_paths() -> set[str]:
    """Folders the worker (``python -I`` with the repository root) imports from: not the
    current folder, ``$PYTHONPATH`` or the user's site-packages."""
    left_out = {os.path.realpath(p) for p in
                [os.getcwd(), site.getusersitepackages(),
                 *os.environ.get("PYTHONPATH", "").split(os.pathsep)] if p}
    paths = {os.path.realpath(p) for p in sys.path if p} - left_out
    paths.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return paths


def _module_where(module: types.ModuleType) -> str | None:
    """The file of a module the worker cannot import (a file next to the notebook), else
    None."""
    top = sys.modules.get(module.__name__.split(".")[0], module)
    origin = getattr(top, "__file__", None)
    if not origin:
        return None  # built in, or a namespace package
    folder = os.path.dirname(origin)
    if os.path.basename(origin).startswith("__init__."):
        folder = os.path.dirname(folder)
    return None if os.path.realpath(folder) in _worker_paths() else origin


def _import_path(obj) -> tuple[str, str] | None:
    """(module, attribute) to import an object defined outside the notebook from, public
    paths first (``jax.nn`` rather than ``jax._src.nn.functions``)."""
    name = getattr(obj, "__name__", None)
    home = getattr(obj, "__module__", None)
    if not isinstance(name, str) or not isinstance(home, str):
        return None
    found = []
    for modname, module in list(sys.modules.items()):
        if modname == "__main__" or not isinstance(module, types.ModuleType):
            continue
        try:
            if vars(module).get(name) is obj:
                found.append(modname)
        except TypeError:
            continue
    if not found:
        return None
    root = home.split(".")[0]
    found.sort(key=lambda m: (any(p.startswith("_") for p in m.split(".")),
                              m.split(".")[0] != root, m.count("."), len(m), m))
    return found[0], name


@dataclasses.dataclass
class _File:
    """One generated module: imports, constants, definitions (dependencies first), aliases."""

    imports: dict = dataclasses.field(default_factory=dict)
    constants: dict = dataclasses.field(default_factory=dict)
    defs: list = dataclasses.field(default_factory=list)
    aliases: dict = dataclasses.field(default_factory=dict)
    names: dict = dataclasses.field(default_factory=dict)  # name -> the object it stands for
    emitted: dict = dataclasses.field(default_factory=dict)  # id(object) -> name defined

    def text(self) -> str:
        imports = sorted(self.imports.values(), key=lambda line: (line[:4] == "from", line))
        parts = [_HEADER, "\n".join(imports),
                 "\n".join(self.constants.values()), *self.defs,
                 "\n".join(self.aliases.values())]
        return "\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"

    def add_root(self, name: str, obj) -> None:
        """Adds a task (or a helper probes call) under ``name``; all or nothing."""
        saved = {k: copy.copy(v) for k, v in vars(self).items()}
        try:
            if not from_notebook(obj):
                where = _import_path(obj) if callable(obj) else None
                what = f"{where[0]}.{where[1]}" if where else f"a {type(obj).__name__}"
                raise _Unsendable(f"{name} is {what}, not a function written in this notebook",
                                  f"write your own def {name}(...): in a cell and pass that")
            self._bind(name, obj, user=name, root=name)
        except BaseException:
            vars(self).update(saved)
            raise

    def _bind(self, name: str, obj, *, user: str, root: str, optional: bool = False) -> None:
        if name in self.names:
            if self.names[name] is obj:
                return
            raise _Unsendable(f"{_who(user, root)} needs the name {name!r}, which the file "
                              "sent to the grader already uses for something else",
                              "give one of the two a different name in the notebook")
        saved = {k: copy.copy(v) for k, v in vars(self).items()} if optional else None
        try:
            self._bind_new(name, obj, user=user, root=root)
        except _Unsendable:
            if saved is None:
                raise
            vars(self).update(saved)  # only an annotation names it: the file runs without

    def _bind_new(self, name, obj, *, user, root):
        who = _who(user, root)
        if isinstance(obj, types.ModuleType):
            if obj.__name__ == "__main__":
                raise _Unsendable(f"{who} uses the notebook itself ({name})",
                                  "use the notebook's names directly")
            where = _module_where(obj)
            if where:
                raise _Unsendable(f"{who} uses the module {obj.__name__} "
                                  f"({where}), which the grader's worker cannot import",
                                  "copy what you need from it into the notebook")
            self.names[name] = obj
            self.imports[name] = (f"import {name}" if obj.__name__ == name
                                  else f"import {obj.__name__} as {name}")
            return
        literal = _literal(obj)
        if literal is not None and len(literal) <= 100_000:
            self.names[name] = obj
            self.constants[name] = f"{name} = {literal}"
            return
        if (callable(obj) or isinstance(obj, type)) and from_notebook(obj):
            self._bind_source(name, obj, user=user, root=root)
            return
        where = _import_path(obj) if callable(obj) or isinstance(obj, type) else None
        if where is not None:
            self.names[name] = obj
            self.imports[name] = (f"from {where[0]} import {where[1]}" if where[1] == name
                                  else f"from {where[0]} import {where[1]} as {name}")
            return
        raise _Unsendable(
            f"{who} uses the notebook variable {name!r} (of type "
            f"{type(obj).__name__}), "
            "which cannot be sent to the grader's separate worker process",
            f"create it inside {user} (or pass it as an argument), or make it a plain "
            "constant: a number, a string, or a tuple of them")

    def _bind_source(self, name, obj, *, user, root):
        self.names[name] = obj
        if id(obj) in self.emitted:  # the same function under a second name
            self.aliases[name] = f"{name} = {self.emitted[id(obj)]}"
            return
        try:
            source, raw = _source(name, obj)
        except _Unsendable as e:
            if user != name:
                e.message = f"{_who(user, root)} uses {name}, but {e.message}"
            raise
        if raw.__name__ != name:  # a task given as softmax=my_softmax is defined as softmax
            source = _rename(source, name)
        self.emitted[id(obj)] = name
        scope = getattr(raw, "__globals__", None)
        if scope is None:
            scope = vars(sys.modules.get(raw.__module__) or types.ModuleType("empty"))
        needed, annotation_only = _globals_used(source)
        for dep in sorted(needed - {name}):
            if dep in scope:
                self._bind(dep, scope[dep], user=name, root=root,
                           optional=dep in annotation_only)
        self.defs.append(source)


def build_files(spec, chosen: dict) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """({file name: source}, {name: (message, hint)} for what could not be sent)."""
    texts, problems = {}, {}
    for fname, fs in spec.files.items():
        out = _File()
        for ref in (*fs.tasks, *fs.parts, *fs.helpers):
            name = ref.rsplit(":", 1)[1]
            if name not in chosen:
                continue
            try:
                out.add_root(name, chosen[name])
            except _Unsendable as e:
                problems[name] = (e.message, e.hint)
            except Exception as e:  # an object whose attributes raise is the notebook's
                problems[name] = (f"{name} could not be prepared for grading "
                                  f"({type(e).__name__}: {e})", "")
        texts[fname] = out.text()
    return texts, problems
