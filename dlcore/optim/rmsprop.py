"""RMSprop: divide each gradient by a running root-mean-square of its past values."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from dlcore.optim.base import scale_by_learning_rate


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the running mean of squared gradients."""

    nu: Any


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9, *, eps: jax.typing.ArrayLike = 1e-8
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse root of a running mean of squared gradients.

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
       u_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    with :math:`\nu_0 = 0` and :math:`\epsilon` inside the square root.

    Args:
      decay: the decay :math:`\rho` of the running mean.
      eps: :math:`\epsilon`, added to :math:`\nu_t` under the square root.

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRmsState(nu)``.

    Warning:
      PyTorch's ``RMSprop`` (and Keras') adds ``eps`` outside the root,
      ``g / (sqrt(nu) + eps)``; for gradients below about ``sqrt(eps)`` = 1e-4 the two
      differ by orders of magnitude. PyTorch's default ``alpha`` (our ``decay``) is 0.99.

    Example:
      >>> tx = scale_by_rms(0.9)
      >>> updates, _ = tx.update(jnp.array([1.0, -3.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([ 3.1622..., -3.1622...], dtype=float32)

    References:
      Hinton, `Neural Networks for Machine Learning, lecture 6e
      <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_, 2012.
    """

    def init_fn(params):
        return ScaleByRmsState(nu=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        del params
        nu = jax.tree.map(
            lambda g, n: ((1 - decay) * g**2 + decay * n).astype(n.dtype), updates, state.nu
        )
        updates = jax.tree.map(lambda g, n: lax.rsqrt(n + eps) * g, updates, nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def rmsprop(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    r"""The RMSprop optimizer, as ``optax.rmsprop`` (uncentered, no momentum).

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
       \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      decay: the decay :math:`\rho` of the running mean of squared gradients.
      eps: :math:`\epsilon`, inside the square root.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_rms, scale_by_learning_rate)``.

    Warning:
      ``eps`` sits inside the square root (as optax and TensorFlow 1); PyTorch and Keras add
      it outside, so their trajectories differ for small gradients.

    Example:
      >>> tx = rmsprop(0.01)
      >>> updates, _ = tx.update(jnp.array([1.0, -3.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.03162...,  0.03162...], dtype=float32)

    References:
      Hinton, `Neural Networks for Machine Learning, lecture 6e
      <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_, 2012;
      ``optax.rmsprop``.
    """
    return optax.chain(scale_by_rms(decay, eps=eps), scale_by_learning_rate(learning_rate))
