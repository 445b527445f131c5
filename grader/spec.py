"""The declarative shape of an exercise: its files, tasks, cases and checks.

A spec module ``grader/specs/qNN.py`` defines ``EXERCISE = Exercise(...)``. It is imported
by the trusted parent (to build inputs, compute references and judge) and by the worker (to
run probes on the learner's functions), so it never imports ``dlcore``: references are
named by string (``"dlcore.nn.activations:relu"``) and imported by the parent only.

A :class:`Case` is a pytree input: positional ``args``, keyword ``kwargs`` (both pytrees of
NumPy arrays, :class:`~grader.wire.Key` keys and Python scalars), ``static`` keyword values
(hashable, static under ``jit``), probe-only ``extras`` (cotangents, spare keys) and a
``label``. A :class:`Check` is a probe, run on each case in the worker (learner's code)
and in the parent (dlcore), plus a judge that compares the two decoded outputs in the
parent. Checks are built by the kinds in :mod:`grader.checks`; each has a stable ``id``
(``"softmax/jit"``) that reports, mutants and the JSON name it by.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from grader.wire import Key, leaves

STATUSES = (
    "pass",
    "wrong",
    "error",
    "not_implemented",
    "timeout",
    "memory",
    "crash",
    "forbidden",
    "tamper",
    "internal",
)

_ID = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?/[a-z0-9_.+\-=]+$")


@dataclasses.dataclass(frozen=True)
class Case:
    """One input of a check: pytrees of arrays, statics, probe-only extras, a label."""

    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    static: dict = dataclasses.field(default_factory=dict)
    extras: dict = dataclasses.field(default_factory=dict)
    label: str = ""

    def describe(self) -> str:
        parts = [_leaf_text(f"arg{p}" if p.startswith("[") else p, v)
                 for p, v in _named_leaves(self.args, self.kwargs)]
        parts += [f"{k}={_short(v)}" for k, v in self.static.items()]
        text = ", ".join(parts[:8]) + (", ..." if len(parts) > 8 else "")
        return f"{self.label} ({text})" if self.label else text


def case(*args, label: str = "", static: dict | None = None, extras: dict | None = None,
         **kwargs) -> Case:
    """``case(x, w, label="...", static={"axis": 0}, mask=m)``: a :class:`Case`."""
    return Case(tuple(args), kwargs, dict(static or {}), dict(extras or {}), label)


def _named_leaves(args, kwargs):
    for p, v in leaves(tuple(args)):
        yield p, v
    for k, v in kwargs.items():
        for p, leaf in leaves(v):
            yield f"{k}{p}", leaf


def _leaf_text(name, v) -> str:
    if isinstance(v, Key):
        return f"{name}: key"
    if isinstance(v, np.ndarray):
        shape = "(" + ",".join(str(d) for d in v.shape) + ("," if v.ndim == 1 else "") + ")"
        return f"{name}: {shape} {v.dtype}"
    return f"{name}={_short(v)}"


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a check did not pass; ``status`` is ``wrong`` unless said otherwise."""

    message: str
    hint: str = ""
    status: str = "wrong"


Probe = Callable[[Any, Any], Any]  # (fns, grader.execute.Inputs) -> output pytree
Judge = Callable[[Case, Any, Any], "Failure | None"]  # (case, got, ref) -> verdict


@dataclasses.dataclass(frozen=True)
class Check:
    """One named, weighted property of one task."""

    id: str
    task: str
    kind: str
    title: str
    probe: Probe | None
    cases: Callable[[np.random.Generator], Sequence[Case]]
    judge: Judge
    description: str = ""
    uses: tuple[str, ...] = ()
    weight: float = 1.0
    timeout: float | None = None  # seconds; None: the kind's default (see grader.run)
    reference: bool = True
    hint: str = ""
    batched: bool = True  # all cases traced into one jax.jit call (see grader/execute.py)

    def __post_init__(self):
        if not _ID.match(self.id):
            raise ValueError(f"check id {self.id!r} is not a slug like 'task/property'")

    @property
    def name(self) -> str:
        """What the report prints: ``"<task>: <title>"``."""
        return f"{self.task}: {self.title}"

    @property
    def tasks_used(self) -> tuple[str, ...]:
        return (self.task, *[t for t in self.uses if t != self.task])


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One learner file: graded tasks, ungraded stubbed parts, and given helpers.

    Each entry is ``"module.path:function"`` naming dlcore's implementation.
    """

    tasks: tuple[str, ...]
    parts: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()
    summary: str = ""


@dataclasses.dataclass(frozen=True)
class Exercise:
    """An exercise: files, checks, forbidden calls, and what its worker needs.

    ``devices``: fake CPU devices the worker starts with (set before JAX starts).
    ``data``: ``{name: path relative to the repository}`` files the parent reads and hands to
    the worker, where a probe finds their bytes in ``fns.data[name]``.
    """

    id: str
    title: str
    files: dict[str, FileSpec]
    checks: tuple[Check, ...]
    forbidden: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    allowed_dlcore: tuple[str, ...] = ()
    devices: int = 1
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    module: str = ""  # where the spec was loaded from (the worker loads it again there)

    def __post_init__(self):
        seen: set[str] = set()
        for c in self.checks:
            if c.id in seen:
                raise ValueError(f"{self.id}: two checks have the id {c.id!r}")
            seen.add(c.id)
            if c.task not in self.tasks:
                raise ValueError(f"{self.id}: check {c.id!r} grades unknown task {c.task!r}")

    @property
    def tasks(self) -> dict[str, str]:
        """Task name -> ``"module:function"`` of the reference, in file order."""
        out = {}
        for fs in self.files.values():
            for ref in fs.tasks:
                out[ref.rsplit(":", 1)[1]] = ref
        return out

    @property
    def references(self) -> dict[str, str]:
        """Every dlcore function a probe may call by name: tasks, parts and helpers."""
        out = {}
        for fs in self.files.values():
            for ref in (*fs.helpers, *fs.parts, *fs.tasks):
                out[ref.rsplit(":", 1)[1]] = ref
        return out

    def task_file(self, task: str) -> str:
        for fname, fs in self.files.items():
            if any(r.rsplit(":", 1)[1] == task for r in fs.tasks):
                return fname
        raise KeyError(task)

    def check(self, check_id: str) -> Check:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)


def load_reference(ref: str) -> Callable:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def load_spec(exercise_id: str) -> Exercise:
    """``qNN`` from ``grader/specs``, or a spec module named by its dotted path (the test
    suite's own exercises)."""
    name = exercise_id if "." in exercise_id else f"grader.specs.{exercise_id}"
    spec = importlib.import_module(name).EXERCISE
    return spec if spec.module else dataclasses.replace(spec, module=name)


def available_exercises() -> list[str]:
    import pkgutil

    from grader import specs

    return sorted(m.name for m in pkgutil.iter_modules(specs.__path__) if m.name[:1] == "q")
