"""Adam: momentum on the gradient, RMS scaling, and bias correction of both."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dlcore.optim.base import scale_by_learning_rate


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and first and second moments."""

    count: jax.Array  # shape (), int32
    mu: Any
    nu: Any


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    r"""Rescale updates with Adam's bias-corrected moment estimates.

    .. math::
       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
       \hat m_t = \frac{m_t}{1 - \beta_1^t}, \quad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \quad
       u_t = \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`m_0 = v_0 = 0`, :math:`t` counting from 1 and :math:`\epsilon` outside the root.

    Args:
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, added to the root of :math:`\hat v_t`.

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)``.

    Example:
      >>> tx = scale_by_adam()
      >>> updates, state = tx.update(jnp.array([1e-3, -5.0]), tx.init(jnp.zeros(2)))
      >>> updates, state.count
      (Array([ 0.9999..., -0.9999...], dtype=float32), Array(1, dtype=int32))

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015.
    """

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: ((1 - b1) * g + b1 * m).astype(m.dtype), updates, state.mu)
        nu = jax.tree.map(
            lambda g, v: ((1 - b2) * g**2 + b2 * v).astype(v.dtype), updates, state.nu
        )
        count = optax.safe_int32_increment(state.count)
        # Powers in float32 even for bfloat16 moments: b2**t rounds to 1 in bfloat16 and the
        # correction would divide by zero.
        correction1 = 1 - b1**count
        correction2 = 1 - b2**count
        mu_hat = jax.tree.map(lambda m: m / correction1.astype(m.dtype), mu)
        nu_hat = jax.tree.map(lambda v: v / correction2.astype(v.dtype), nu)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    r"""The Adam optimizer, as ``optax.adam``.

    .. math:: \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of :func:`scale_by_adam`.

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, outside the square root.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_adam, scale_by_learning_rate)``.

    Warning:
      The first step is about ``-learning_rate * sign(g)`` whatever the gradient's size
      (bias correction makes :math:`\hat m_1 / \sqrt{\hat v_1} = g / |g|`). ``eps`` is
      outside the root as in the paper, PyTorch and Keras (optax's ``eps_root`` would go
      inside); Keras' default ``eps`` is 1e-7.

    Example:
      >>> tx = adam(0.1)
      >>> updates, _ = tx.update(jnp.array([1e-3, -5.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.09999...,  0.09999...], dtype=float32)

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015; ``optax.adam``.
    """
    return optax.chain(scale_by_adam(b1, b2, eps=eps), scale_by_learning_rate(learning_rate))
