"""q01 Static vs dynamic graphs: power iteration as a dynamic and as a static graph, and its StableHLO.

Graded tasks: dynamic_power_iteration, static_power_iteration, to_stablehlo.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q01
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax


# Task: graded.
def dynamic_power_iteration(
    a: jax.typing.ArrayLike,
    x0: jax.typing.ArrayLike,
    *,
    tol: float,
    max_iters: int,
    on_step: Callable[[int, jax.Array], None] | None = None,
) -> tuple[jax.Array, int]:
    r"""Top eigenvector of a symmetric PSD matrix by power iteration, driven by Python.

    .. math:: x_0 \leftarrow x_0 / \|x_0\|, \qquad
       x_k = \frac{a x_{k-1}}{\|a x_{k-1}\|}, \qquad d_k = \|x_k - x_{k-1}\|

    Step ``k = 1, 2, ...`` computes ``x_k`` and ``d_k``, calls ``on_step(k, x_k)``, and stops
    as soon as ``d_k < tol`` or ``k = max_iters``. This is a *dynamic graph*: every ``jnp``
    op runs at once, the loop and the stopping test are plain Python, and ``on_step`` sees
    concrete arrays, so you can print, plot or set a breakpoint at every step. Not jitted:
    tracing it raises ``ConcretizationTypeError`` (the ``if`` needs a concrete ``d``).

    Args:
      a: ``(n, n)`` symmetric positive semi-definite matrix with a dominant eigenvalue.
      x0: ``(n,)`` nonzero start vector; only its direction matters.
      tol: stop when the step ``||x_k - x_{k-1}||`` falls below it (``0`` never stops early).
      max_iters: the most steps to take, a Python int (``0`` returns ``x0 / ||x0||``).
      on_step: optional callback ``on_step(k, x_k)``, called once per step.

    Returns:
      ``(vec, iters)``: the unit ``(n,)`` iterate and the number of steps taken, a Python int.

    Example:
      >>> a = jnp.array([[2.0, 0.0], [0.0, 1.0]])
      >>> vec, iters = dynamic_power_iteration(a, jnp.array([1.0, 1.0]), tol=1e-3, max_iters=50)
      >>> round(float(vec[0]), 4), iters
      (1.0, 10)

    Warning:
      The sign of an eigenvector is arbitrary; compare with ``jnp.linalg.eigh`` up to sign.

    References:
      Golub and Van Loan, *Matrix Computations*, 4th ed., section 7.3.1 (the power method).
    """
    raise NotImplementedError('q01 dynamic_power_iteration: write this function (see README.md)')


# Task: graded.
def static_power_iteration(
    a: jax.typing.ArrayLike,
    x0: jax.typing.ArrayLike,
    *,
    tol: jax.typing.ArrayLike,
    max_iters: jax.typing.ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    r"""The same power iteration staged as one ``lax.while_loop``: jittable and vmappable.

    .. math:: x_k = \frac{a x_{k-1}}{\|a x_{k-1}\|}, \quad d_k = \|x_k - x_{k-1}\|,
       \quad \text{loop while } k < \text{max\_iters} \text{ and not } d_k < \text{tol}

    The carry is ``(x, k, d)`` starting from ``(x0 / ||x0||, 0, inf)``. The stopping test is
    part of the graph (the loop's ``cond``), so one trace serves every matrix of a shape,
    and ``tol`` and ``max_iters`` may be traced values. Under ``vmap`` the loop runs until
    every example has stopped and freezes the finished ones, so each example gets its own
    ``iters``. Same steps and same ``iters`` as :func:`dynamic_power_iteration`.

    Args:
      a: ``(n, n)`` symmetric positive semi-definite matrix with a dominant eigenvalue.
      x0: ``(n,)`` nonzero start vector.
      tol: stop when the step norm falls below it; a Python float or a traced scalar.
      max_iters: the most steps to take; a Python int or a traced integer scalar.

    Returns:
      ``(vec, iters)``: the unit ``(n,)`` iterate and the int32 number of steps taken.

    Example:
      >>> a = jnp.array([[2.0, 0.0], [0.0, 1.0]])
      >>> vec, iters = jax.jit(static_power_iteration, static_argnames="max_iters")(
      ...     a, jnp.array([1.0, 1.0]), tol=1e-3, max_iters=50)
      >>> round(float(vec[0]), 4), int(iters)
      (1.0, 10)

    References:
      ``jax.lax.while_loop``: https://docs.jax.dev/en/latest/_autosummary/jax.lax.while_loop.html
    """
    raise NotImplementedError('q01 static_power_iteration: write this function (see README.md)')


# Task: graded.
def to_stablehlo(fn: Callable, *args) -> str:
    """StableHLO text of ``fn`` staged for ``args``, without running it.

    ``jax.jit(fn).lower(*args)`` traces ``fn`` to a jaxpr and lowers it to a StableHLO
    (MLIR) module, the portable graph that XLA then compiles. Nothing is compiled or
    executed, so callbacks inside ``fn`` never fire, and ``args`` may be
    ``jax.ShapeDtypeStruct``s instead of arrays: only shapes and dtypes matter. Not jitted.

    Args:
      fn: a jittable function of positional arguments.
      *args: arrays or ``jax.ShapeDtypeStruct``s, one per argument of ``fn``.

    Returns:
      The module's text: ``func.func public @main(%arg0: tensor<...>)`` and ``stablehlo.*`` ops.

    Example:
      >>> text = to_stablehlo(jnp.sin, jax.ShapeDtypeStruct((6, 6), jnp.float32))
      >>> "tensor<6x6xf32>" in text, "stablehlo.sine" in text
      (True, True)

    Warning:
      ``jax.jit(fn).lower(*args).compile().as_text()`` is XLA's optimized HLO after
      compilation, not StableHLO; ``jax.make_jaxpr`` gives the jaxpr, one level higher.

    References:
      Ahead-of-time lowering: https://docs.jax.dev/en/latest/aot.html
    """
    raise NotImplementedError('q01 to_stablehlo: write this function (see README.md)')
