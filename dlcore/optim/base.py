"""The last link of every optimizer chain: scaling updates by the (negated) learning rate.

Also the squared magnitude every adaptive optimizer accumulates, for real and complex
gradients alike.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["ScaleByScheduleState", "scale_by_learning_rate"]


def _abs_sq(x: jax.Array) -> jax.Array:
    r"""Squared magnitude :math:`|x|^2`, elementwise, real for complex ``x`` (as optax).

    ``x ** 2`` for a real array; ``Re(conj(x) * x)`` for a complex one, where ``x ** 2``
    would be the complex square (not a magnitude) and send an optimizer off course.
    """
    if jnp.iscomplexobj(x):
        return (jnp.conj(x) * x).real
    return x**2


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_learning_rate` with a schedule: the step count."""

    count: jax.Array  # shape (), int32


def scale_by_learning_rate(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    *,
    flip_sign: bool = True,
) -> optax.GradientTransformation:
    r"""Multiply updates by :math:`-\eta` (gradient descent) or :math:`+\eta`.

    .. math:: u_t \leftarrow -\eta_t\, u_t

    Args:
      learning_rate: a scalar :math:`\eta`, or a schedule ``count -> eta`` called with the
        number of updates done so far (0 at the first update).
      flip_sign: negate the scale, so that adding the updates to the params descends.

    Returns:
      An ``optax.GradientTransformation``. Its state is ``optax.EmptyState()`` for a scalar
      learning rate and ``ScaleByScheduleState(count)`` for a schedule.

    Example:
      >>> tx = scale_by_learning_rate(0.1)
      >>> updates, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.1,  0.2], dtype=float32)

    References:
      ``optax.scale_by_learning_rate``:
      https://optax.readthedocs.io/en/latest/api/transformations.html
    """
    sign = -1 if flip_sign else 1

    if callable(learning_rate):

        def schedule_init_fn(params):
            del params
            return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

        def schedule_update_fn(updates, state, params=None):
            del params
            step_size = sign * learning_rate(state.count)
            # Cast the step size, not the result, so bfloat16 updates stay bfloat16.
            updates = jax.tree.map(lambda g: jnp.asarray(step_size, g.dtype) * g, updates)
            return updates, ScaleByScheduleState(count=optax.safe_int32_increment(state.count))

        return optax.GradientTransformation(schedule_init_fn, schedule_update_fn)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        updates = jax.tree.map(lambda g: sign * learning_rate * g, updates)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)
