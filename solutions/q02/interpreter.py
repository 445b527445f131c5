"""q02 Computational graphs: reference solution.

Generated from dlcore.graphs.interpreter, dlcore.graphs.reverse_mode by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: trace_graph, eval_graph, grad_graph.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Literal


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
_NESTED = ("jit", "pjit", "closed_call")
_VJP_RULES = {
    "add": lambda g, x, y, out, **_: (g, g),
    "sub": lambda g, x, y, out, **_: (g, -g),
    "mul": lambda g, x, y, out, **_: (g * y, g * x),
    "div": lambda g, x, y, out, **_: (g / y, -g * x / (y * y)),
    "max": lambda g, x, y, out, **_: _max_vjp(g, x, y, out),
    "min": lambda g, x, y, out, **_: _max_vjp(g, x, y, out),
    "neg": lambda g, x, out, **_: (-g,),
    "exp": lambda g, x, out, **_: (g * out,),
    "log": lambda g, x, out, **_: (g / x,),
    "sin": lambda g, x, out, **_: (g * jnp.cos(x),),
    "cos": lambda g, x, out, **_: (-g * jnp.sin(x),),
    "tanh": lambda g, x, out, **_: (g * (1 - out * out),),
    "sqrt": lambda g, x, out, **_: (g / (2 * out),),
    "integer_pow": lambda *a, **p: _integer_pow_vjp(*a, **p),
    "dot_general": lambda *a, **p: _dot_general_vjp(*a, **p),
    "reduce_sum": lambda *a, **p: _reduce_sum_vjp(*a, **p),
    "broadcast_in_dim": lambda *a, **p: _broadcast_in_dim_vjp(*a, **p),
    "convert_element_type": lambda *a, **p: _convert_element_type_vjp(*a, **p),
}


class UnknownPrimitiveError(ValueError):
    """Raised for a primitive that the interpreter's table has no rule for; the message
    names the primitive. Raising it (instead of running ``eqn.primitive.bind``) keeps the
    interpreter honest: it runs only what it knows."""


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


def _broadcast_in_dim_vjp(g, x, out, *, broadcast_dimensions, **_):
    new = tuple(d for d in range(g.ndim) if d not in broadcast_dimensions)
    return (jnp.sum(g, axis=new),)  # size-1 dims that were stretched: _unbroadcast sums them


def _convert_element_type_vjp(g, x, out, **_):
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        return (None,)  # an integer input carries no gradient
    return (lax.convert_element_type(g, x.dtype),)


def _dot_general_vjp(g, x, y, out, *, dimension_numbers, **_):
    # Name every axis with a letter, shared by paired axes; each cotangent is then an einsum
    # of the other two operands (for a matrix product: g @ y.T and x.T @ g).
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    xs = [next(letters) for _ in range(x.ndim)]
    ys = [next(letters) for _ in range(y.ndim)]
    for i, j in zip(x_contract, y_contract, strict=True):
        ys[j] = xs[i]
    for i, j in zip(x_batch, y_batch, strict=True):
        ys[j] = xs[i]
    x_free = [xs[i] for i in range(x.ndim) if i not in x_contract and i not in x_batch]
    y_free = [ys[j] for j in range(y.ndim) if j not in y_contract and j not in y_batch]
    gs = "".join([xs[i] for i in x_batch] + x_free + y_free)
    xs, ys = "".join(xs), "".join(ys)
    ct_x = jnp.einsum(f"{gs},{ys}->{xs}", g, y, precision=lax.Precision.HIGHEST)
    ct_y = jnp.einsum(f"{xs},{gs}->{ys}", x, g, precision=lax.Precision.HIGHEST)
    return ct_x.astype(x.dtype), ct_y.astype(y.dtype)


def _integer_pow_vjp(g, x, out, *, y, **_):
    if y == 0:
        return (jnp.zeros_like(g),)
    return (g * y * lax.integer_pow(x, y - 1),)


def _max_vjp(g, x, y, out, **_):
    # jax's rule: the larger operand takes the cotangent, a tie splits it 1/2-1/2.
    x, y, out = jnp.broadcast_arrays(x, y, out)
    wx = jnp.where(x == out, jnp.where(y == out, 0.5, 1.0), 0.0).astype(g.dtype)
    wy = jnp.where(y == out, jnp.where(x == out, 0.5, 1.0), 0.0).astype(g.dtype)
    return g * wx, g * wy


def _reduce_sum_vjp(g, x, out, *, axes, **_):
    kept = tuple(d for d in range(x.ndim) if d not in axes)
    return (lax.broadcast_in_dim(g, x.shape, kept),)


def _unbroadcast(ct: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sums a cotangent back to its operand's shape (the transpose of broadcasting)."""
    ct = jnp.sum(ct, axis=tuple(range(ct.ndim - len(shape))))
    stretched = tuple(d for d, n in enumerate(shape) if n == 1 and ct.shape[d] != 1)
    return jnp.sum(ct, axis=stretched, keepdims=True).reshape(shape)


def _backward(jaxpr, consts, args, out_cts) -> list:
    """Cotangents of ``jaxpr``'s invars, given its outvars' cotangents (None: zero)."""
    env = _eval_env(jaxpr, consts, args)  # the forward pass keeps every value
    cts = {}

    def add_ct(v, ct):
        if ct is None or isinstance(v, Literal):
            return  # a Literal is a constant: nothing to accumulate
        ct = _unbroadcast(ct, v.aval.shape)
        cts[v] = ct if v not in cts else cts[v] + ct  # fan-out: cotangents add up

    for v, ct in zip(jaxpr.outvars, out_cts, strict=True):
        add_ct(v, ct)
    for eqn in reversed(jaxpr.eqns):
        g_out = [cts.pop(v, None) for v in eqn.outvars]
        if all(g is None for g in g_out):
            continue
        name = eqn.primitive.name
        invals = [_read(env, v) for v in eqn.invars]
        if name in _NESTED:
            inner = eqn.params["jaxpr"]
            g_in = _backward(inner.jaxpr, inner.consts, invals, g_out)
        elif name in _VJP_RULES:
            outval = env[eqn.outvars[0]]
            g_in = _VJP_RULES[name](g_out[0], *invals, outval, **eqn.params)
        else:
            raise UnknownPrimitiveError(f"primitive {name!r} has no VJP rule")
        for v, ct in zip(eqn.invars, g_in, strict=True):
            add_ct(v, ct)
    return [cts.get(v) for v in jaxpr.invars]


def grad_graph(closed_jaxpr, *args) -> list[jax.Array]:
    r"""Gradient of a one-output scalar jaxpr with respect to each input, by reverse mode.

    .. math:: \bar v = \sum_{\text{uses } u = f(\dots, v, \dots)} \mathrm{vjp}_f(\bar u)_v

    A forward pass (the interpreter of :func:`eval_graph`) stores every value. The output's
    cotangent is seeded with 1, and the eqns are walked in reverse: each primitive's VJP rule
    maps its output cotangent to cotangents of its inputs, which are summed back to the
    input's shape (a broadcast scalar gets the sum) and added up where a variable fans out to
    several eqns. Literals are constants and receive nothing. Jittable.

    Args:
      closed_jaxpr: a ``ClosedJaxpr`` with exactly one output, of shape ``()``.
      *args: one floating array per invar.

    Returns:
      One gradient per input, with that input's shape and dtype; zeros for an unused input.

    Example:
      >>> cj = jax.make_jaxpr(lambda x, s: jnp.sum(x * s + x * x))(jnp.ones(3), 2.0)
      >>> gx, gs = grad_graph(cj, jnp.array([1.0, 2.0, 3.0]), 2.0)
      >>> gx, gs
      (Array([4., 6., 8.], dtype=float32), Array(6., dtype=float32))

    References:
      Griewank and Walther, *Evaluating Derivatives*, 2nd ed., SIAM, 2008, chapter 3;
      Autodidax: https://docs.jax.dev/en/latest/autodidax.html
    """
    jaxpr = closed_jaxpr.jaxpr
    out_aval = jaxpr.outvars[0].aval
    if len(jaxpr.outvars) != 1 or out_aval.shape != ():
        raise ValueError(f"grad_graph needs one scalar output, got {jaxpr.outvars}")
    seed = jnp.ones((), out_aval.dtype)
    cts = _backward(jaxpr, closed_jaxpr.consts, args, [seed])
    return [
        jnp.zeros(jnp.shape(a), jnp.result_type(a)) if ct is None else ct.astype(jnp.result_type(a))
        for a, ct in zip(args, cts, strict=True)
    ]
