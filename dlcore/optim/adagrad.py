"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from dlcore.optim.base import _abs_sq, scale_by_learning_rate

__all__ = ["ScaleByRssState", "adagrad", "scale_by_rss"]


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared gradients."""

    sum_of_squares: Any


def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1, *, eps: jax.typing.ArrayLike = 1e-7
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse root of the sum of squared gradients so far.

    .. math:: G_t = G_{t-1} + |g_t|^2, \qquad
       u_t = \begin{cases} g_t / \sqrt{G_t + \epsilon} & G_t > 0 \\ 0 & G_t = 0 \end{cases}

    with :math:`G_0` = ``initial_accumulator_value`` and :math:`\epsilon` inside the root.
    Complex gradients are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`.

    Args:
      initial_accumulator_value: the starting value :math:`G_0` of the accumulator.
      eps: :math:`\epsilon`, added to :math:`G_t` under the square root.

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRssState(sum_of_squares)``.

    Warning:
      PyTorch's ``Adagrad`` starts the accumulator at 0 and adds ``eps=1e-10`` outside the
      root, ``g / (sqrt(G) + eps)``; Keras starts at 0.1 but also adds ``eps`` outside.

    Example:
      >>> tx = scale_by_rss(0.0)
      >>> updates, _ = tx.update(jnp.array([3.0, 0.0]), tx.init(jnp.zeros(2)))
      >>> bool(jnp.isclose(updates[0], 1.0))  # 3 / sqrt(9 + eps)
      True
      >>> updates[1]  # its accumulator saw only a zero gradient, so it is still exactly 0
      Array(0., dtype=float32)

    References:
      Duchi, Hazan and Singer, `Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, 2011.
    """

    def init_fn(params):
        return ScaleByRssState(
            sum_of_squares=jax.tree.map(
                lambda p: jnp.full_like(p, initial_accumulator_value), params
            )
        )

    def update_fn(updates, state, params=None):
        del params
        sum_of_squares = jax.tree.map(
            lambda g, s: (_abs_sq(g) + s).astype(s.dtype), updates, state.sum_of_squares
        )
        # An accumulator still at exactly 0 has only ever seen zero gradients: its update is
        # 0, not 0 / sqrt(eps).
        inv_root = jax.tree.map(lambda s: jnp.where(s > 0, lax.rsqrt(s + eps), 0.0), sum_of_squares)
        updates = jax.tree.map(lambda r, g: r * g, inv_root, updates)
        return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

    return optax.GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformation:
    r"""The Adagrad optimizer, as ``optax.adagrad``.

    .. math:: G_t = G_{t-1} + |g_t|^2, \qquad
       \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{G_t + \epsilon}}

    Complex params are supported as in optax (the accumulator sums :math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      initial_accumulator_value: the starting value :math:`G_0` of the accumulator.
      eps: :math:`\epsilon`, inside the square root.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_rss, scale_by_learning_rate)``.

    Warning:
      The accumulator starts at 0.1 (PyTorch: 0) and ``eps`` sits inside the root (PyTorch
      and Keras: outside), so the first steps differ from PyTorch's.

    Example:
      >>> tx = adagrad(1.0)
      >>> updates, _ = tx.update(jnp.array([0.3, -0.3]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.6882...,  0.6882...], dtype=float32)

    References:
      Duchi, Hazan and Singer, `Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, 2011;
      ``optax.adagrad``.
    """
    return optax.chain(
        scale_by_rss(initial_accumulator_value, eps=eps), scale_by_learning_rate(learning_rate)
    )
