"""Running checks' probes on their cases: one compiled call where possible.

Shared by the worker (learner functions), the parent (dlcore's references) and the test
suite's in-process mode, so every side computes in exactly the same way. Checks whose point
is eager/jit/vmap behaviour itself (``Check.batched`` false) run case by case. The others
of one task are traced together into a single ``jax.jit`` call; if that raises, each check
runs again by itself, eagerly case by case, so that a jit-only mistake is reported by the
jit check and not by every check.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import wire
from grader.spec import Case
from grader.wire import Key, KeyArray


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a probe sees of a case: JAX arrays (typed keys for keys), statics, extras."""

    args: tuple
    kwargs: dict
    static: dict
    extras: dict
    label: str = ""

    def replace(self, **changes) -> Inputs:
        return dataclasses.replace(self, **changes)

    @property
    def traced(self) -> tuple:
        """The parts ``jit``/``vmap``/``grad`` kinds trace through: ``(args, kwargs, extras)``."""
        return (self.args, self.kwargs, self.extras)

    def with_traced(self, traced) -> Inputs:
        args, kwargs, extras = traced
        return self.replace(args=tuple(args), kwargs=dict(kwargs), extras=dict(extras))


def to_jax(tree):
    """NumPy leaves -> ``jax.Array``, keys -> typed keys; Python values stay as they are."""
    import jax
    import jax.numpy as jnp

    def conv(x):
        if isinstance(x, Key):
            return jax.random.wrap_key_data(jnp.asarray(x.data))
        if isinstance(x, KeyArray):
            return jax.random.wrap_key_data(jnp.asarray(np.asarray(x).view(np.ndarray)))
        if isinstance(x, np.ndarray):
            return jnp.asarray(x)
        return x

    return jax.tree.map(conv, tree, is_leaf=lambda x: isinstance(x, (Key, KeyArray)))


def inputs(case: Case) -> Inputs:
    return Inputs(
        tuple(to_jax(list(case.args))),
        to_jax(dict(case.kwargs)),
        dict(case.static),
        to_jax(dict(case.extras)),
        case.label,
    )


def _leaf(x):
    import jax
    import jax.numpy as jnp

    if isinstance(x, jax.Array):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x)), "key"
        return np.asarray(x), "jax"
    return None


def _node(x):
    import jax

    flat = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)[0]
    if len(flat) == 1 and flat[0][1] is x:
        return None
    return type(x).__name__, [(jax.tree_util.keystr(p), v) for p, v in flat]


def to_wire(tree) -> tuple[dict, dict]:
    """A probe's output -> ``(skeleton, arrays)`` (see :mod:`grader.wire`)."""
    return wire.encode(tree, leaf_hook=_leaf, node_hook=_node)


def roundtrip(tree):
    """What the other side decodes from ``tree``: the parent's view of an output."""
    skeleton, arrays = to_wire(tree)
    return wire.decode(skeleton, arrays)


def run_cases(check, fns, cases: list[Case], *, strict: bool = False) -> list:
    """The probe's output for each case, in order (exceptions propagate).

    ``strict`` (the parent, running dlcore) never falls back to eager: the reference must
    trace, so a failure there is a grader bug, not something to paper over.
    """
    import jax

    ins = [inputs(c) for c in cases]
    if not check.batched or not cases:
        return [jax.block_until_ready(check.probe(fns, i)) for i in ins]

    def all_cases(traced):
        return [check.probe(fns, i.with_traced(t)) for i, t in zip(ins, traced, strict=True)]

    try:
        return jax.block_until_ready(jax.jit(all_cases)([i.traced for i in ins]))
    except Exception:
        if strict:
            raise
        return [jax.block_until_ready(check.probe(fns, i)) for i in ins]


def run_group(checks, fns, cases: dict[str, list[Case]]) -> dict[str, list]:
    """All batched ``checks`` (one task's) traced into one ``jax.jit`` call.

    Returns ``{check id: outputs per case}``, or ``{}`` when the group does not trace or run
    as a whole; callers then run each check by itself, which isolates the failure.
    """
    import jax

    todo = [c for c in checks if c.batched and c.probe is not None and cases.get(c.id)]
    if not todo:
        return {}
    ins = {c.id: [inputs(k) for k in cases[c.id]] for c in todo}

    def everything(traced):
        return {
            c.id: [c.probe(fns, i.with_traced(t))
                   for i, t in zip(ins[c.id], traced[c.id], strict=True)]
            for c in todo
        }

    try:
        return jax.block_until_ready(
            jax.jit(everything)({k: [i.traced for i in v] for k, v in ins.items()})
        )
    except Exception:
        return {}
