"""Adam: momentum on the gradient, RMS scaling, and bias correction of both."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dlcore.optim.base import _abs_sq, scale_by_learning_rate

__all__ = ["ScaleByAdamState", "adam", "scale_by_adam"]


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and first and second moments."""

    count: jax.Array  # shape (), int32
    mu: Any
    nu: Any


def _bias_correct(moment: Any, decay: jax.typing.ArrayLike, count: jax.Array) -> Any:
    r"""Divide every leaf of ``moment`` by :math:`1 - \mathrm{decay}^{count}`.

    The power is taken in float32 even for bfloat16 moments (:math:`\beta_2^t` rounds to 1
    in bfloat16 and the division would blow up), then cast to each leaf's dtype. The caller
    runs this under ``jax.jit(..., inline=True)``, as optax does: eagerly that makes
    ``decay ** count`` a float power of a traced count (outside ``jit`` a concrete count
    would take ``jnp.power``'s exact repeated multiplication instead, about 1e-6 relative
    away) and compiles the divisions as one program, so eager and jitted updates are
    bitwise those of optax.
    """
    correction = 1 - decay**count
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: jax.typing.DTypeLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""Rescale updates with Adam's bias-corrected moment estimates.

    .. math::
       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, |g_t|^2, \\
       \hat m_t = \frac{m_t}{1 - \beta_1^t}, \quad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \quad
       u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

    with :math:`m_0 = v_0 = 0`, :math:`t` counting from 1 and :math:`\epsilon` outside the root.
    Nesterov (NAdam) replaces :math:`\hat m_t` by
    :math:`\beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1)\, g_t / (1 - \beta_1^t)`.

    Complex params are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`, so the
    second moment is real-valued (stored in the params' complex dtype).

    Args:
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, added to the root of :math:`\hat v_t`.
      eps_root: :math:`\epsilon_{root}`, added to :math:`\hat v_t` inside the root.
      mu_dtype: dtype in which the first moment is stored (e.g. ``jnp.bfloat16`` to save
        memory); ``None`` keeps the params' dtype. The update itself is computed before the
        cast, as optax does.
      nesterov: use Nesterov momentum (NAdam).

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)``.

    Example:
      >>> tx = scale_by_adam()
      >>> updates, state = tx.update(jnp.array([1e-3, -5.0]), tx.init(jnp.zeros(2)))
      >>> updates, state.count
      (Array([ 0.9999..., -0.9999...], dtype=float32), Array(1, dtype=int32))

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015; Dozat, `Incorporating Nesterov Momentum
      into Adam <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`_, 2016.
    """

    def init_fn(params):
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * _abs_sq(g) + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        bias_correct = jax.jit(_bias_correct, inline=True)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: b1 * m + (1 - b1) * g,
                bias_correct(mu, b1, optax.safe_int32_increment(count)),
                bias_correct(updates, b1, count),
            )
        else:
            mu_hat = bias_correct(mu, b1, count)
        nu_hat = bias_correct(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        # The state keeps its dtypes step after step (mu_dtype, else the params'), whatever
        # the hyperparameters' dtype promoted the arithmetic to.
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        nu = jax.tree.map(lambda v, old: v.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: jax.typing.DTypeLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""The Adam optimizer, as ``optax.adam``.

    .. math:: \theta_t = \theta_{t-1} - \eta_t\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of :func:`scale_by_adam`.
    Complex params are supported as in optax (the second moment accumulates
    :math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta`` (e.g. an
        ``optax.warmup_cosine_decay_schedule``), called with the number of updates so far.
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, outside the square root.
      eps_root: :math:`\epsilon_{root}`, inside the square root (default 0).
      mu_dtype: dtype in which the first moment is stored; ``None`` keeps the params'.
      nesterov: use Nesterov momentum (NAdam, ``optax.nadam``).

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
    return optax.chain(
        scale_by_adam(b1, b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )
