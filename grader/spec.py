"""The declarative shape of an exercise: its files, tasks and checks.

A spec module ``grader/specs/qNN.py`` defines ``EXERCISE = Exercise(...)``. It is imported
by the trusted parent (to build inputs, compute references and judge) and by the worker
(to run probes on the learner's functions), so it must not import ``dlcore`` at module
level: reference functions are named by string (``"dlcore.nn.activations:relu"``) and
imported by the parent only.

A check is a probe plus a judge. The *probe* is a function ``probe(fns, case)`` that calls
task functions through ``fns`` (the learner's in the worker, dlcore's in the parent) and
returns a pytree of arrays. The *judge* runs in the parent on NumPy arrays only and returns
``None`` for a pass or a :class:`Failure`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

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


@dataclasses.dataclass(frozen=True)
class Case:
    """One input to a probe: arrays (sent to the worker as raw bytes) and static values."""

    arrays: dict[str, np.ndarray]
    static: dict[str, Any] = dataclasses.field(default_factory=dict)
    label: str = ""

    def describe(self) -> str:
        parts = [
            f"{k}: {tuple(v.shape)} {v.dtype}"
            for k, v in self.arrays.items()
            if not k.startswith("_")
        ]
        parts += [f"{k}={v!r}" for k, v in self.static.items() if not k.startswith("_")]
        text = ", ".join(parts)
        return f"{self.label} ({text})" if self.label else text


class ProbeInputs:
    """What a probe sees: ``c.x`` is the array ``x`` as a ``jax.Array``, ``c.s`` the statics."""

    def __init__(self, case: Case):
        import jax
        import jax.numpy as jnp

        def convert(name, v):
            named = name.lstrip("_").startswith("key") or name.endswith("_key")
            if named and v.dtype == np.uint32 and v.ndim >= 1 and v.shape[-1] == 2:
                return jax.random.wrap_key_data(jnp.asarray(v))
            return jnp.asarray(v)

        self._arrays = {k: convert(k, v) for k, v in case.arrays.items()}
        self.s = dict(case.static)

    def __getattr__(self, name: str):
        try:
            return self.__dict__["_arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str):
        return self._arrays[name]


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a check did not pass; ``status`` is ``wrong`` unless said otherwise."""

    message: str
    hint: str = ""
    status: str = "wrong"


Probe = Callable[[Any, ProbeInputs], Any]
Judge = Callable[[Case, dict, "dict | None"], "Failure | None"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One named, weighted property of one task."""

    name: str
    task: str
    kind: str
    probe: Probe | None
    cases: Callable[[np.random.Generator], Sequence[Case]]
    judge: Judge
    description: str
    uses: tuple[str, ...] = ()
    weight: float = 1.0
    timeout: float = 30.0
    reference: bool = True
    hint: str = ""
    batched: bool = True  # all cases traced into one jax.jit call (see grader/execute.py)

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
    id: str
    title: str
    files: dict[str, FileSpec]
    checks: tuple[Check, ...]
    forbidden: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    allowed_dlcore: tuple[str, ...] = ()

    @property
    def tasks(self) -> dict[str, str]:
        """Task name -> ``"module:function"`` of the reference, in file order."""
        out = {}
        for fs in self.files.values():
            for ref in fs.tasks:
                out[ref.rsplit(":", 1)[1]] = ref
        return out

    def task_file(self, task: str) -> str:
        for fname, fs in self.files.items():
            if any(r.rsplit(":", 1)[1] == task for r in fs.tasks):
                return fname
        raise KeyError(task)


def pack_cases(cases: list[Case]) -> tuple[list[dict], dict]:
    """Cases -> (statics per case, arrays named ``"<i>:<name>"``) for one frame."""
    arrays = {f"{i}:{k}": v for i, c in enumerate(cases) for k, v in c.arrays.items()}
    return [c.static for c in cases], arrays


def unpack_cases(statics: list[dict], arrays: dict) -> list[Case]:
    per = [dict() for _ in statics]
    for name, v in arrays.items():
        i, _, k = name.partition(":")
        per[int(i)][k] = v
    return [Case(arrays=a, static=_tuples(s)) for a, s in zip(per, statics, strict=True)]


def _tuples(value):
    """JSON turns the tuples of a case's statics into lists; turn them back, so both sides
    call with the same (hashable, jit-static) values."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def pack_many(named: list[tuple[str, list[Case]]]) -> tuple[list, dict]:
    """Several checks' cases in one frame: arrays named ``"<j>/<i>:<name>"``."""
    statics, arrays = [], {}  # a list of pairs: JSON headers are written with sorted keys
    for j, (name, cases) in enumerate(named):
        st, arr = pack_cases(cases)
        statics.append([name, st])
        arrays.update({f"{j}/{k}": v for k, v in arr.items()})
    return statics, arrays


def unpack_many(statics: list, arrays: dict) -> dict[str, list[Case]]:
    per: list[dict] = [dict() for _ in statics]
    for key, v in arrays.items():
        j, _, rest = key.partition("/")
        per[int(j)][rest] = v
    return {name: unpack_cases(st, per[j]) for j, (name, st) in enumerate(statics)}


def split_outputs(flat: dict, n: int) -> list[dict]:
    """Inverse of flattening a list of n outputs: ``"[i]<path>"`` -> per-case dicts."""
    out = [dict() for _ in range(n)]
    for path, v in flat.items():
        head, _, rest = path.partition("]")
        out[int(head[1:])][rest] = v
    return out


def load_reference(ref: str) -> Callable:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def load_spec(exercise_id: str) -> Exercise:
    module = importlib.import_module(f"grader.specs.{exercise_id}")
    return module.EXERCISE


def available_exercises() -> list[str]:
    import pkgutil

    from grader import specs

    return sorted(m.name for m in pkgutil.iter_modules(specs.__path__) if m.name[:1] == "q")
