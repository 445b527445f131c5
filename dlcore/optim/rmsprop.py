"""RMSprop: divide each gradient by a running root-mean-square of its past values."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from dlcore.optim.base import _abs_sq, scale_by_learning_rate
from dlcore.optim.sgd import trace

__all__ = [
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "rmsprop",
    "scale_by_rms",
    "scale_by_stddev",
]


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the running mean of squared gradients."""

    nu: Any


class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev`: running means of the gradients and their squares."""

    mu: Any
    nu: Any


def _inverse_root(denominator: jax.Array, eps: jax.typing.ArrayLike, eps_in_sqrt: bool):
    """``1 / sqrt(d + eps)`` (eps inside the root) or ``1 / (sqrt(d) + eps)`` (outside)."""
    if eps_in_sqrt:
        return lax.rsqrt(denominator + eps)
    return 1 / (jnp.sqrt(denominator) + eps)


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse root of a running mean of squared gradients.

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
       u_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    with :math:`\nu_0` = ``initial_scale`` (0) and :math:`\epsilon` inside the square root
    (``eps_in_sqrt=False``: :math:`u_t = g_t / (\sqrt{\nu_t} + \epsilon)`). Complex
    gradients are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`.

    Args:
      decay: the decay :math:`\rho` of the running mean.
      eps: :math:`\epsilon`, added to :math:`\nu_t` under the square root.
      initial_scale: the starting value :math:`\nu_0` of the running mean.
      eps_in_sqrt: put ``eps`` inside the root (optax, TensorFlow 1) or outside (PyTorch).

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
        return ScaleByRmsState(nu=jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params))

    def update_fn(updates, state, params=None):
        del params
        nu = jax.tree.map(lambda g, n: (1 - decay) * _abs_sq(g) + decay * n, updates, state.nu)
        updates = jax.tree.map(lambda g, n: _inverse_root(n, eps, eps_in_sqrt) * g, updates, nu)
        # Stored in the state's dtype, whatever a traced decay promoted the arithmetic to.
        nu = jax.tree.map(lambda n, old: n.astype(old.dtype), nu, state.nu)
        return updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse of a running standard deviation (centered RMSprop).

    .. math:: \mu_t = \rho\, \mu_{t-1} + (1 - \rho)\, g_t, \quad
       \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \quad
       u_t = \frac{g_t}{\sqrt{\nu_t - |\mu_t|^2 + \epsilon}}

    with :math:`\mu_0 = 0`, :math:`\nu_0` = ``initial_scale``; complex gradients as in
    :func:`scale_by_rms`.

    Args:
      decay: the decay :math:`\rho` of both running means.
      eps: :math:`\epsilon`, added under the square root (or outside, see ``eps_in_sqrt``).
      initial_scale: the starting value :math:`\nu_0`.
      eps_in_sqrt: put ``eps`` inside the root (optax) or outside (PyTorch).

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRStdDevState(mu, nu)``.

    Example:
      >>> tx = scale_by_stddev(0.9)
      >>> updates, _ = tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))
      >>> updates  # 1 / sqrt(0.1 - 0.01)
      Array([3.3333...], dtype=float32)

    References:
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013, eq. 38-41; ``optax.scale_by_stddev``.
    """

    def init_fn(params):
        mu = jax.tree.map(jnp.zeros_like, params)
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: (1 - decay) * g + decay * m, updates, state.mu)
        nu = jax.tree.map(lambda g, n: (1 - decay) * _abs_sq(g) + decay * n, updates, state.nu)
        updates = jax.tree.map(
            lambda g, m, n: _inverse_root(n - _abs_sq(m), eps, eps_in_sqrt) * g, updates, mu, nu
        )
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        nu = jax.tree.map(lambda n, old: n.astype(old.dtype), nu, state.nu)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def rmsprop(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: jax.typing.ArrayLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""The RMSprop optimizer, as ``optax.rmsprop``.

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
       \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    ``centered=True`` divides by a running standard deviation instead
    (:func:`scale_by_stddev`); ``momentum`` adds a :func:`trace` of the scaled steps
    *after* the learning rate, as optax (and PyTorch) do:
    :math:`b_t = \mu\, b_{t-1} - \eta_t\, g_t / \sqrt{\cdot}`, :math:`\theta_t =
    \theta_{t-1} + b_t`. Complex params are supported as in optax (:math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      decay: the decay :math:`\rho` of the running mean of squared gradients.
      eps: :math:`\epsilon`, inside the square root.
      initial_scale: the starting value :math:`\nu_0` of the running mean.
      eps_in_sqrt: put ``eps`` inside the root (default) or outside (PyTorch).
      centered: normalize by the running variance, :math:`\nu_t - \mu_t^2`.
      momentum: the momentum :math:`\mu` of a trace after the scaling; ``None`` keeps none.
      nesterov: use Nesterov momentum in that trace.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_rms, scale_by_learning_rate)``
      (``scale_by_stddev`` when centered), with ``trace`` appended when ``momentum`` is set.

    Warning:
      ``eps`` sits inside the square root by default (as optax and TensorFlow 1); PyTorch
      and Keras add it outside (``eps_in_sqrt=False`` here), so their trajectories differ for
      small gradients. Without momentum the chain has two links where ``optax.rmsprop``'s has
      three (an identity), so the states differ in structure though the updates are equal.

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
    options = {"eps": eps, "initial_scale": initial_scale, "eps_in_sqrt": eps_in_sqrt}
    if centered:
        scaling = scale_by_stddev(decay, **options)
    else:
        scaling = scale_by_rms(decay, **options)
    if momentum is None:
        return optax.chain(scaling, scale_by_learning_rate(learning_rate))
    return optax.chain(
        scaling, scale_by_learning_rate(learning_rate), trace(momentum, nesterov=nesterov)
    )
