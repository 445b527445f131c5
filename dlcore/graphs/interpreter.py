"""A jaxpr is JAX's computational graph: list its nodes, and run it with our own interpreter."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Literal

# One entry per primitive: called with the input values and the eqn's params as keywords.
# Params that do not change the value (accuracy, out_dtype=None, sharding, ...) are ignored.
# A jaxpr may pair f32[3] with f32[] or f32[2,3] with f32[1,3]: binary ops broadcast
# explicitly rather than rely on how much implicit broadcasting this jax version allows.
_EVAL_RULES = {
    "add": lambda x, y, **_: lax.add(*jnp.broadcast_arrays(x, y)),
    "sub": lambda x, y, **_: lax.sub(*jnp.broadcast_arrays(x, y)),
    "mul": lambda x, y, **_: lax.mul(*jnp.broadcast_arrays(x, y)),
    "div": lambda x, y, **_: lax.div(*jnp.broadcast_arrays(x, y)),
    "max": lambda x, y, **_: lax.max(*jnp.broadcast_arrays(x, y)),
    "min": lambda x, y, **_: lax.min(*jnp.broadcast_arrays(x, y)),
    "neg": lambda x, **_: lax.neg(x),
    "exp": lambda x, **_: lax.exp(x),
    "log": lambda x, **_: lax.log(x),
    "sin": lambda x, **_: lax.sin(x),
    "cos": lambda x, **_: lax.cos(x),
    "tanh": lambda x, **_: lax.tanh(x),
    "sqrt": lambda x, **_: lax.sqrt(x),
    "integer_pow": lambda x, *, y, **_: lax.integer_pow(x, y),
    "dot_general": lambda x, y, *, dimension_numbers, preferred_element_type=None, **_: (
        lax.dot_general(x, y, dimension_numbers, preferred_element_type=preferred_element_type)
    ),
    "reduce_sum": lambda x, *, axes, **_: jnp.sum(x, axis=tuple(axes), dtype=x.dtype),
    "broadcast_in_dim": lambda x, *, shape, broadcast_dimensions, **_: lax.broadcast_in_dim(
        x, shape, broadcast_dimensions
    ),
    "convert_element_type": lambda x, *, new_dtype, **_: lax.convert_element_type(x, new_dtype),
}

# Call-like primitives whose params["jaxpr"] is a ClosedJaxpr run on the eqn's inputs.
_NESTED = ("jit", "pjit", "closed_call")


def _var_name(i: int) -> str:
    # 0 -> a, 25 -> z, 26 -> ba: the pretty-printer's scheme, so names read like print(jaxpr).
    digits = "abcdefghijklmnopqrstuvwxyz"
    out = digits[i % 26]
    while i >= 26:
        i = i // 26
        out = digits[i % 26] + out
    return out


def trace_graph(fn: Callable, *args) -> list[tuple[str, tuple, tuple[str, ...]]]:
    """The nodes of ``fn``'s jaxpr for ``args``: one ``(primitive, inputs, outputs)`` per eqn.

    ``jax.make_jaxpr(fn)(*args)`` traces ``fn`` into a graph whose nodes are primitive
    applications (eqns) and whose edges are typed variables. Each top-level eqn becomes one
    tuple: the primitive's name, its inputs (a variable's name, or a ``Literal`` as its Python
    scalar value), and the names of its outputs. Names are handed out in order of first
    appearance (constvars, invars, then eqn outputs, lettered ``a, b, ...``, as
    ``print(jaxpr)`` does for a flat graph): the same variable always has the same name.
    A nested ``jit`` (``jnp.linalg.norm``, a jitted helper) is one node named ``"jit"``;
    its body is not flattened. Not jitted.

    Args:
      fn: a function of positional array arguments.
      *args: example arguments; only their shapes and dtypes matter.

    Returns:
      A list of ``(prim, inputs, outputs)`` with ``prim: str``, ``inputs: tuple`` of names
      and Python scalars, ``outputs: tuple[str, ...]``.

    Example:
      >>> trace_graph(lambda x: (x + 2) * 3, 5.0)
      [('add', ('a', 2.0), ('b',)), ('mul', ('b', 3.0), ('c',))]

    References:
      Understanding jaxprs: https://docs.jax.dev/en/latest/jaxpr.html
    """
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    names = {}

    def name(v):
        if v not in names:
            names[v] = _var_name(len(names))
        return names[v]

    for v in [*jaxpr.constvars, *jaxpr.invars]:
        name(v)
    nodes = []
    for eqn in jaxpr.eqns:
        inputs = tuple(
            np.asarray(v.val).item() if isinstance(v, Literal) else name(v) for v in eqn.invars
        )
        outputs = tuple(name(v) for v in eqn.outvars)
        nodes.append((eqn.primitive.name, inputs, outputs))
    return nodes


class UnknownPrimitiveError(ValueError):
    """Raised for a primitive that the interpreter's table has no rule for; the message
    names the primitive. Raising it (instead of running ``eqn.primitive.bind``) keeps the
    interpreter honest: it runs only what it knows."""


def _read(env: dict, v) -> jax.Array:
    # A Literal is not a variable: its value sits in the graph itself.
    return v.val if isinstance(v, Literal) else env[v]


def _eval_env(jaxpr, consts, args) -> dict:
    """Runs ``jaxpr`` eqn by eqn; returns the environment: every variable's value."""
    env = dict(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, map(jnp.asarray, args), strict=True))
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        invals = [_read(env, v) for v in eqn.invars]
        if name in _NESTED:
            outvals = eval_graph(eqn.params["jaxpr"], *invals)
        elif name in _EVAL_RULES:
            outvals = [_EVAL_RULES[name](*invals, **eqn.params)]
        else:
            raise UnknownPrimitiveError(f"primitive {name!r} is not in the interpreter's table")
        env.update(zip(eqn.outvars, outvals, strict=True))
    return env


def eval_graph(closed_jaxpr, *args) -> list[jax.Array]:
    """Runs a ``ClosedJaxpr`` with our own interpreter; the values of its outputs.

    The interpreter keeps an environment from variables to values. It binds the constvars to
    ``closed_jaxpr.consts`` and the invars to ``args``, then walks the eqns in order: it
    reads each input (a ``Literal`` carries its value in ``.val``), looks the primitive's
    name up in its own table of ``lax``/``jnp`` functions (``add sub mul div max min neg exp
    log sin cos tanh sqrt integer_pow dot_general reduce_sum broadcast_in_dim
    convert_element_type``), and stores the outputs. A nested ``jit`` runs its inner jaxpr
    recursively. Elementwise ops broadcast rank-0 operands and size-1 dims. Jittable and
    vmappable: the table's functions trace like any other JAX code.

    Args:
      closed_jaxpr: a ``jax.extend.core.ClosedJaxpr``, as from ``jax.make_jaxpr``.
      *args: one array per invar, with the invar's shape and dtype.

    Returns:
      A list with one array per output of the jaxpr.

    Raises:
      UnknownPrimitiveError: naming a primitive that is not in the table (``erf_inv``,
        ``cumsum``, ...), rather than falling back on the primitive's own implementation
        (``eqn.primitive.bind``).

    Example:
      >>> cj = jax.make_jaxpr(lambda x: (x + 2) * 3)(5)
      >>> eval_graph(cj, jnp.int32(5))
      [Array(21, dtype=int32)]

    References:
      Writing custom jaxpr interpreters:
      https://docs.jax.dev/en/latest/notebooks/Writing_custom_interpreters_in_Jax.html
    """
    jaxpr = closed_jaxpr.jaxpr
    env = _eval_env(jaxpr, closed_jaxpr.consts, args)
    return [jnp.asarray(_read(env, v)) for v in jaxpr.outvars]
