"""Stochastic gradient descent, with heavy-ball or Nesterov momentum."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dlcore.optim.base import scale_by_learning_rate

__all__ = ["TraceState", "sgd", "sgd_step", "trace"]


class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer, shaped like the params."""

    trace: Any


def trace(
    decay: jax.typing.ArrayLike,
    *,
    nesterov: bool = False,
    accumulator_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformation:
    r"""Accumulate a momentum trace of past updates (no dampening).

    .. math::
       v_t = g_t + \mu\, v_{t-1}, \qquad
       u_t = \begin{cases} g_t + \mu\, v_t & \text{Nesterov} \\ v_t & \text{otherwise}
       \end{cases}

    with :math:`v_0 = 0`. Complex updates work unchanged (the trace is linear).

    Args:
      decay: the momentum :math:`\mu`.
      nesterov: use Nesterov's look-ahead form.
      accumulator_dtype: dtype in which the trace is stored; ``None`` keeps the params'.

    Returns:
      An ``optax.GradientTransformation`` with state ``TraceState(trace)``.

    Warning:
      PyTorch's ``SGD`` has a ``dampening`` option (``v = mu * v + (1 - dampening) * g``);
      dlcore, like optax, has none (``dampening=0``). TensorFlow/Keras keep a velocity of
      ``-lr * g`` instead of ``g``; the two agree only for a constant learning rate.

    Example:
      >>> tx = trace(0.9)
      >>> state = tx.init(jnp.zeros(2))
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates
      Array([1.9, 1.9], dtype=float32)

    References:
      Sutskever et al., `On the importance of initialization and momentum in deep learning
      <https://proceedings.mlr.press/v28/sutskever13.html>`_, 2013.
    """

    def init_fn(params):
        return TraceState(
            trace=jax.tree.map(lambda p: jnp.zeros_like(p, dtype=accumulator_dtype), params)
        )

    def update_fn(updates, state, params=None):
        del params
        new_trace = jax.tree.map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        # Stored in the state's dtype (accumulator_dtype, else the params'): a float32 decay
        # would otherwise promote a bfloat16 trace and change the state's type.
        new_trace = jax.tree.map(lambda t, old: t.astype(old.dtype), new_trace, state.trace)
        return updates, TraceState(trace=new_trace)

    return optax.GradientTransformation(init_fn, update_fn)


def sgd(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    momentum: jax.typing.ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    accumulator_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformation:
    r"""Stochastic gradient descent with optional momentum, as ``optax.sgd``.

    .. math:: v_t = g_t + \mu\, v_{t-1}, \qquad \theta_t = \theta_{t-1} - \eta_t\, v_t

    (Nesterov: :math:`\theta_t = \theta_{t-1} - \eta\,(g_t + \mu\, v_t)`.)

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      momentum: the momentum :math:`\mu`; a Python 0 (the default) keeps no trace at all.
      nesterov: use Nesterov momentum.
      accumulator_dtype: dtype of the momentum buffer; ``None`` keeps the params'.

    Returns:
      An ``optax.GradientTransformation``: ``chain(trace, scale_by_learning_rate)``, or just
      ``scale_by_learning_rate`` without momentum.

    Warning:
      No ``dampening`` (PyTorch has the option; its default 0 matches) and the learning rate
      multiplies the trace, it is not folded into it (as TensorFlow/Keras does).

    Example:
      >>> tx = sgd(0.1, 0.9)
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, state = tx.update(2 * params, tx.init(params))
      >>> updates
      Array([-0.2,  0.2], dtype=float32)

    References:
      Polyak, `Some methods of speeding up the convergence of iteration methods
      <https://doi.org/10.1016/0041-5553(64)90137-5>`_, 1964; ``optax.sgd``.
    """
    # A concrete zero momentum needs no buffer (like optax.sgd(momentum=None)); a traced
    # momentum (e.g. swept under vmap) always gets the trace.
    if momentum is None or (isinstance(momentum, (int, float)) and momentum == 0):
        return scale_by_learning_rate(learning_rate)
    return optax.chain(
        trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype),
        scale_by_learning_rate(learning_rate),
    )


def sgd_step(params: Any, grads: Any, learning_rate: jax.typing.ArrayLike) -> Any:
    r"""One plain gradient-descent step on a params pytree.

    .. math:: \theta \leftarrow \theta - \eta\, \nabla_\theta L

    Args:
      params: a pytree of arrays.
      grads: a pytree with the structure of ``params``.
      learning_rate: the step size :math:`\eta`.

    Returns:
      The new params, with the structure and dtypes of ``params``.

    Example:
      >>> sgd_step({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([10.0, -10.0])}, 0.1)
      {'w': Array([0., 3.], dtype=float32)}

    References:
      Robbins and Monro, `A Stochastic Approximation Method
      <https://doi.org/10.1214/aoms/1177729586>`_, 1951.
    """
    return jax.tree.map(
        lambda p, g: jnp.asarray(p - learning_rate * g, dtype=jnp.asarray(p).dtype), params, grads
    )
