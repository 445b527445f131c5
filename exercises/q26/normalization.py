"""q26 BatchNorm vs LayerNorm: batch, layer and RMS normalization over a channels-last feature axis.

Graded tasks: batch_norm, layer_norm, rms_norm.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q26
"""

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


# Task: graded.
def batch_norm(
    x: jax.typing.ArrayLike,
    params: dict[str, Any],
    stats: dict[str, Any],
    *,
    deterministic: bool,
    momentum: float = 0.99,
    eps: float = 1e-5,
    axis_name: str | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Batch normalization of ``(..., C)`` inputs over every axis but the last.

    Training (``deterministic=False``), with the reduction over all axes but the feature one:
    ``mu = mean(x)``, ``var = mean((x - mu)^2)`` (biased, two passes),
    ``y = (x - mu) / sqrt(var + eps) * scale + bias``; the running statistics become
    ``mean <- momentum * mean + (1 - momentum) * mu`` and likewise for ``var``. Gradients flow
    through ``mu`` and ``var``. Evaluation (``deterministic=True``) normalizes with the given
    ``stats`` and returns them unchanged.

    With ``axis_name`` (inside ``vmap``/``shard_map`` over that axis) the statistics are
    synchronized: ``mu = pmean(mu)``, then ``var = pmean(mean((x - mu)^2))`` with the global
    ``mu``. That is full-batch batch norm when every device holds the same number of examples.

    Args:
      x: inputs, shape ``(..., C)``, at least 2-D (``(N, C)``, ``(N, H, W, C)``, ...).
      params: ``{"scale": (C,), "bias": (C,)}``.
      stats: running statistics ``{"mean": (C,), "var": (C,)}``.
      deterministic: True for evaluation (use ``stats``), False for training; static.
      momentum: weight of the old running value (flax/Keras convention); static.
      eps: added to the variance inside the square root.
      axis_name: a named mapped axis to average the statistics over, or None; static.

    Returns:
      ``(y, new_stats)``: ``y`` has the shape of ``x``; ``new_stats`` is ``stats`` itself in
      evaluation.

    Warning:
      PyTorch's ``momentum=0.1`` means ``new = 0.9 * old + 0.1 * batch``, the same as flax's
      and Keras's ``momentum=0.9``; and PyTorch's running variance is the unbiased one
      (``n / (n - 1)`` times larger). Keras uses ``epsilon=1e-3``, flax and PyTorch ``1e-5``.
      flax's default ``use_fast_variance=True`` computes ``E[x^2] - E[x]^2``, which loses all
      precision for features with a large mean; this function always uses two passes.

    Example:
      >>> x = jnp.array([[1.0, 10.0], [3.0, 10.0]])
      >>> params = {"scale": jnp.ones(2), "bias": jnp.zeros(2)}
      >>> stats = {"mean": jnp.zeros(2), "var": jnp.ones(2)}
      >>> y, new = batch_norm(x, params, stats, deterministic=False, momentum=0.9)
      >>> y.round(3)
      Array([[-1.,  0.],
             [ 1.,  0.]], dtype=float32)
      >>> new["mean"], new["var"]
      (Array([0.2, 1. ], dtype=float32), Array([1. , 0.9], dtype=float32))

    References:
      Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
      Internal Covariate Shift", ICML 2015, https://arxiv.org/abs/1502.03167;
      ``flax.nnx.BatchNorm`` (``use_fast_variance=False``).
    """
    raise NotImplementedError('q26 batch_norm: write this function (see README.md)')


# Task: graded.
def layer_norm(x: jax.typing.ArrayLike, params: dict[str, Any], *, eps: float = 1e-6) -> jax.Array:
    """Layer normalization over the last axis, then a per-feature affine map.

    For each row (all leading indices fixed): ``mu = mean(x)``, ``var = mean((x - mu)^2)``
    (two passes), ``y = (x - mu) / sqrt(var + eps) * scale + bias``. Rows never interact, so
    train and evaluation are the same computation and the batch size does not matter.

    Args:
      x: inputs, shape ``(..., C)``.
      params: ``{"scale": (C,), "bias": (C,)}``.
      eps: added to the variance inside the square root.

    Returns:
      Array of the shape of ``x``.

    Warning:
      flax's ``LayerNorm`` default is ``epsilon=1e-6``, PyTorch's ``1e-5`` and Keras's
      ``1e-3``: ports that ignore it differ visibly on rows of small variance.

    Example:
      >>> params = {"scale": jnp.ones(3), "bias": jnp.zeros(3)}
      >>> layer_norm(jnp.array([[1.0, 2.0, 3.0]]), params).round(4)
      Array([[-1.2247,  0.    ,  1.2247]], dtype=float32)

    References:
      Ba, Kiros and Hinton, "Layer Normalization", 2016, https://arxiv.org/abs/1607.06450;
      ``flax.nnx.LayerNorm``.
    """
    raise NotImplementedError('q26 layer_norm: write this function (see README.md)')


# Task: graded.
def rms_norm(x: jax.typing.ArrayLike, params: dict[str, Any], *, eps: float = 1e-6) -> jax.Array:
    """Root-mean-square normalization over the last axis: ``x / sqrt(mean(x^2) + eps) * scale``.

    No mean is subtracted and there is no bias, so ``rms_norm(a * x) = rms_norm(x)`` for
    ``a > 0`` but a shift of ``x`` changes the output. Used by LLaMA and T5 in place of
    layer norm: one reduction instead of two.

    Args:
      x: inputs, shape ``(..., C)``.
      params: ``{"scale": (C,)}``.
      eps: added to the mean square inside the square root.

    Returns:
      Array of the shape of ``x``.

    Example:
      >>> y = rms_norm(jnp.array([[3.0, -4.0]]), {"scale": jnp.ones(2)})  # rms = 5 / sqrt(2)
      >>> [round(v, 4) for v in y[0].tolist()]
      [0.8485, -1.1314]

    References:
      Zhang and Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019,
      https://arxiv.org/abs/1910.07467; ``flax.nnx.RMSNorm``.
    """
    raise NotImplementedError('q26 rms_norm: write this function (see README.md)')
