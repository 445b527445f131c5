"""q02 Computational graphs: a jaxpr's nodes, an interpreter for it, and reverse mode over it.

Graded tasks: trace_graph, eval_graph, grad_graph.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q02
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Literal


# Given: use it as it is.
class UnknownPrimitiveError(ValueError):
    """Raised for a primitive that the interpreter's table has no rule for; the message
    names the primitive. Raising it (instead of running ``eqn.primitive.bind``) keeps the
    interpreter honest: it runs only what it knows."""


# Task: graded.
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
    raise NotImplementedError('q02 trace_graph: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q02 eval_graph: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q02 grad_graph: write this function (see README.md)')
