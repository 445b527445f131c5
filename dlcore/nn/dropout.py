"""Inverted dropout and Monte-Carlo dropout prediction."""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["broadcast_dropout", "dropout", "mc_dropout_predict"]


def dropout(
    key: jax.Array, x: jax.typing.ArrayLike, rate: float, *, deterministic: bool = False
) -> jax.Array:
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest up.

    ``keep ~ Bernoulli(1 - rate)`` elementwise and ``y = where(keep, x / (1 - rate), 0)``, so
    ``E[y] = x`` and nothing changes at test time. Bitwise equal to ``flax.nnx.Dropout``
    called with the same raw key (``nnx.Dropout(rate)(x, deterministic=False, rngs=key)``).

    Args:
      key: a ``jax.random.key``; used once.
      x: inputs, any shape.
      rate: probability of dropping an entry, a Python float in ``[0, 1]``; static under jit.
      deterministic: if True return ``x`` unchanged (evaluation); static.

    Returns:
      Array of the shape and dtype of ``x``. ``x`` itself when ``deterministic`` or
      ``rate == 0``; zeros (with zero gradient, never NaN) when ``rate == 1``.

    Warning:
      This is inverted dropout, what PyTorch, TensorFlow and Flax do: scale by
      ``1 / (1 - rate)`` while training, identity at test time. The original paper's form
      (no scaling in training, multiply by ``1 - rate`` at test time) gives the same
      expectation but is not what frameworks implement. ``rate`` is the drop probability,
      not Keras 1 / early TensorFlow's ``keep_prob``.

    Example:
      >>> y = dropout(jax.random.key(0), jnp.ones(8), 0.5)
      >>> bool(jnp.all((y == 0) | (y == 2)))
      True

    References:
      Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15, 2014, https://jmlr.org/papers/v15/srivastava14a.html;
      ``flax.nnx.Dropout``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {rate!r}")
    x = jnp.asarray(x)
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        # x / 0 would put NaN in the gradient; the output does not depend on x at all.
        return jnp.zeros_like(x)
    keep_prob = 1.0 - rate
    keep = jax.random.bernoulli(key, keep_prob, x.shape)
    return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


def broadcast_dropout(
    key: jax.Array,
    x: jax.typing.ArrayLike,
    rate: float,
    broadcast_dims: Sequence[int],
    *,
    deterministic: bool = False,
) -> jax.Array:
    """Inverted dropout whose mask is shared along ``broadcast_dims``.

    The keep mask is drawn with ``jax.random.bernoulli(key, 1 - rate, shape)`` where
    ``shape`` is ``x.shape`` with every axis in ``broadcast_dims`` set to 1, then broadcast
    to ``x.shape``; ``y = where(keep, x / (1 - rate), 0)``. Dropping whole feature maps
    (spatial dropout: ``broadcast_dims=(1, 2)`` on NHWC) or the same positions in every
    sequence of a batch (``(0,)``) are the usual uses. With ``broadcast_dims=()`` it is
    :func:`dropout`, bitwise. Bitwise equal to ``flax.nnx.Dropout(rate, broadcast_dims=...)``
    called with the same raw key.

    Args:
      key: a ``jax.random.key``; used once.
      x: inputs, any shape.
      rate: probability of dropping an entry, a Python float in ``[0, 1]``; static.
      broadcast_dims: axes (negative allowed) along which one mask value is shared; static.
      deterministic: if True return ``x`` unchanged (evaluation); static.

    Returns:
      Array of the shape and dtype of ``x``; ``x`` itself when ``deterministic`` or
      ``rate == 0``, zeros when ``rate == 1``.

    Example:
      >>> y = broadcast_dropout(jax.random.key(0), jnp.ones((3, 4)), 0.5, (0,))
      >>> bool(jnp.all(y == y[:1]))  # every row has the same mask
      True

    References:
      Tompson et al., "Efficient Object Localization Using Convolutional Networks"
      (spatial dropout), https://arxiv.org/abs/1411.4280, 2015; ``flax.nnx.Dropout``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {rate!r}")
    x = jnp.asarray(x)
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep_prob = 1.0 - rate
    mask_shape = list(x.shape)
    for dim in broadcast_dims:
        mask_shape[dim] = 1
    keep = jnp.broadcast_to(jax.random.bernoulli(key, keep_prob, mask_shape), x.shape)
    return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


def mc_dropout_predict(
    key: jax.Array,
    apply_fn: Callable[[jax.Array, Any, jax.Array], jax.Array],
    params: Any,
    x: jax.typing.ArrayLike,
    *,
    num_samples: int,
) -> tuple[jax.Array, jax.Array]:
    """Monte-Carlo dropout: average ``num_samples`` stochastic forward passes.

    With keys ``k_1..k_M = split(key, M)`` and ``y_m = apply_fn(k_m, params, x)``:
    ``mean = (1/M) sum_m y_m`` and ``std = sqrt((1/M) sum_m (y_m - mean)^2)`` (population,
    ``ddof=0``). The passes run as one ``vmap`` over the keys.

    Args:
      key: a ``jax.random.key``; split into one fresh key per sample.
      apply_fn: ``apply_fn(key, params, x) -> y`` with dropout active.
      params: model parameters (any pytree), shared by all samples.
      x: inputs passed unchanged to every sample.
      num_samples: ``M``; static.

    Returns:
      ``(mean, std)``, each shaped like ``apply_fn``'s output.

    Example:
      >>> f = lambda k, p, x: dropout(k, x, 0.5)
      >>> mean, std = mc_dropout_predict(jax.random.key(0), f, None, jnp.ones(3), num_samples=4)
      >>> mean.shape, std.shape
      ((3,), (3,))

    References:
      Gal and Ghahramani, "Dropout as a Bayesian Approximation: Representing Model
      Uncertainty in Deep Learning", https://arxiv.org/abs/1506.02142, 2016.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    x = jnp.asarray(x)
    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(lambda k: apply_fn(k, params, x))(keys)
    return jnp.mean(samples, axis=0), jnp.std(samples, axis=0)
