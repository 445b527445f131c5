"""Converters from PyTorch weight layouts to Flax NNX layouts, one layer type each."""

import jax
import jax.numpy as jnp


def torch_linear_to_nnx(weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike) -> dict:
    """Converts a ``torch.nn.Linear`` weight and bias to ``nnx.Linear`` params.

    PyTorch computes ``y = x W^T + b`` with ``W`` of shape ``(out, in)``; nnx computes
    ``y = x K + b`` with ``K`` of shape ``(in, out)``, so ``K = W^T``.

    Args:
      weight: ``(out, in)``, PyTorch layout.
      bias: ``(out,)``.

    Returns:
      ``{"kernel": (in, out), "bias": (out,)}``.

    Warning:
      A square layer (``in == out``) accepts the untransposed weight without any shape
      error and computes ``x W`` instead of ``x W^T``: check logits, not shapes.

    Example:
      >>> p = torch_linear_to_nnx(jnp.ones((3, 5)), jnp.zeros(3))
      >>> p["kernel"].shape, p["bias"].shape
      ((5, 3), (3,))

    References:
      ``torch.nn.Linear`` (weight ``(out_features, in_features)``); ``flax.nnx.Linear``.
    """
    return {"kernel": jnp.asarray(weight).T, "bias": jnp.asarray(bias)}


def torch_conv2d_to_nnx(weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike) -> dict:
    """Converts a ``torch.nn.Conv2d`` weight (OIHW) and bias to ``nnx.Conv`` params (HWIO).

    ``kernel[h, w, i, o] = weight[o, i, h, w]``, i.e. ``weight.transpose(2, 3, 1, 0)``. Both
    frameworks compute a cross-correlation, so no kernel flip is needed.

    Args:
      weight: ``(C_out, C_in, KH, KW)``, PyTorch OIHW layout.
      bias: ``(C_out,)``.

    Returns:
      ``{"kernel": (KH, KW, C_in, C_out), "bias": (C_out,)}``.

    Warning:
      A reshape to ``(KH, KW, C_in, C_out)`` has the right shape and scrambles the values;
      ``transpose(2, 3, 0, 1)`` (HWOI) fails only when ``C_in != C_out``.

    Example:
      >>> p = torch_conv2d_to_nnx(jnp.ones((16, 3, 5, 4)), jnp.zeros(16))
      >>> p["kernel"].shape
      (5, 4, 3, 16)

    References:
      ``torch.nn.Conv2d`` (weight ``(out_channels, in_channels, kH, kW)``);
      ``flax.nnx.Conv`` (kernel ``(*kernel_size, in_features, out_features)``).
    """
    return {"kernel": jnp.transpose(jnp.asarray(weight), (2, 3, 1, 0)), "bias": jnp.asarray(bias)}


def nchw_to_nhwc(x: jax.typing.ArrayLike) -> jax.Array:
    """Moves the channel axis of a PyTorch image batch last: ``(N, C, H, W) -> (N, H, W, C)``.

    ``y[n, h, w, c] = x[n, c, h, w]``, i.e. ``x.transpose(0, 2, 3, 1)``.

    Args:
      x: ``(N, C, H, W)``.

    Returns:
      ``(N, H, W, C)``.

    Warning:
      ``transpose(0, 3, 2, 1)`` also gives a channels-last array, with H and W swapped:
      the shape is right on square images and every image comes out transposed.

    Example:
      >>> nchw_to_nhwc(jnp.zeros((2, 3, 5, 7))).shape
      (2, 5, 7, 3)

    References:
      PyTorch's NCHW default and XLA/Flax's NHWC default (``lax.conv_dimension_numbers``).
    """
    return jnp.transpose(jnp.asarray(x), (0, 2, 3, 1))


def torch_flatten_linear_to_nnx(
    weight: jax.typing.ArrayLike, bias: jax.typing.ArrayLike, *, chw: tuple[int, int, int]
) -> dict:
    """Converts the first ``Linear`` after ``torch.flatten(x, 1)`` of a (C, H, W) feature map.

    PyTorch flattens feature maps in (C, H, W) order, an NHWC model in (H, W, C) order, so
    the columns of ``weight`` are permuted before the usual transpose:
    ``kernel = weight.reshape(out, C, H, W).transpose(0, 2, 3, 1).reshape(out, -1).T``.

    Args:
      weight: ``(out, C * H * W)``, PyTorch layout, columns in (C, H, W) order.
      bias: ``(out,)``.
      chw: ``(C, H, W)`` of the feature map that was flattened (static).

    Returns:
      ``{"kernel": (H * W * C, out), "bias": (out,)}``, rows in (H, W, C) order, for an
      nnx model that flattens NHWC activations with ``x.reshape(N, -1)``.

    Warning:
      Without the permutation every shape still matches and the logits are wrong.

    Example:
      >>> w = jnp.arange(12.0).reshape(1, 12)  # one output, C=3, H=2, W=2
      >>> torch_flatten_linear_to_nnx(w, jnp.zeros(1), chw=(3, 2, 2))["kernel"][:4, 0]
      Array([0., 4., 8., 1.], dtype=float32)

    References:
      ``torch.flatten``; the ``flatten`` of NHWC activations in Flax's CNN examples.
    """
    weight = jnp.asarray(weight)
    c, h, w = chw
    out = weight.shape[0]
    kernel = weight.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, c * h * w).T
    return {"kernel": kernel, "bias": jnp.asarray(bias)}


def torch_lstm_to_nnx(
    w_ih: jax.typing.ArrayLike,
    w_hh: jax.typing.ArrayLike,
    b_ih: jax.typing.ArrayLike,
    b_hh: jax.typing.ArrayLike,
) -> dict:
    """Converts one layer of ``torch.nn.LSTM`` to the params of ``nnx.LSTMCell``.

    PyTorch stacks the four gates row-wise in the order input ``i``, forget ``f``, cell
    ``g``, output ``o``: ``w_ih`` is ``(4H, D)``, ``w_hh`` is ``(4H, H)``, and both biases are
    ``(4H,)``. ``nnx.LSTMCell`` has a bias-free input projection per gate (``ii``, ``if_``,
    ``ig``, ``io``, kernels ``(D, H)``) and a hidden projection with bias (``hi``, ``hf``,
    ``hg``, ``ho``, kernels ``(H, H)``). Gate ``k`` of PyTorch rows ``[kH, (k + 1)H)`` maps to
    ``ik.kernel = w_ih[rows].T``, ``hk.kernel = w_hh[rows].T`` and
    ``hk.bias = b_ih[rows] + b_hh[rows]``.

    Args:
      w_ih: ``weight_ih_l0``, ``(4H, D)``.
      w_hh: ``weight_hh_l0``, ``(4H, H)``.
      b_ih: ``bias_ih_l0``, ``(4H,)``.
      b_hh: ``bias_hh_l0``, ``(4H,)``.

    Returns:
      ``{"ii": {"kernel"}, "if_": {"kernel"}, "ig": {"kernel"}, "io": {"kernel"},
      "hi": {"kernel", "bias"}, "hf": ..., "hg": ..., "ho": ...}``, ready for
      ``nnx.update(cell, params)``.

    Warning:
      Keras orders the gates i, f, c, o as PyTorch does, but other code (and some papers)
      use i, g, f, o or put the forget gate first. Dropping ``b_hh`` (or ``b_ih``) loses half
      the bias. A PyTorch GRU does not port to ``nnx.GRUCell`` this way: its ``b_hn`` sits
      inside the reset gate's product, and nnx's hidden ``n`` projection has no bias.

    Example:
      >>> p = torch_lstm_to_nnx(jnp.ones((8, 3)), jnp.ones((8, 2)), jnp.ones(8), jnp.ones(8))
      >>> p["if_"]["kernel"].shape, p["hf"]["kernel"].shape, p["hf"]["bias"]
      ((3, 2), (2, 2), Array([2., 2.], dtype=float32))

    References:
      ``torch.nn.LSTM`` (gate order i, f, g, o); ``flax.nnx.LSTMCell``; Hochreiter and
      Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997.
    """
    w_ih, w_hh = jnp.asarray(w_ih), jnp.asarray(w_hh)
    bias = jnp.asarray(b_ih) + jnp.asarray(b_hh)
    hidden = w_hh.shape[1]
    params = {}
    for k, gate in enumerate(("i", "f", "g", "o")):
        rows = slice(k * hidden, (k + 1) * hidden)
        params["if_" if gate == "f" else f"i{gate}"] = {"kernel": w_ih[rows].T}
        params[f"h{gate}"] = {"kernel": w_hh[rows].T, "bias": bias[rows]}
    return params


def torch_batchnorm_to_nnx(
    weight: jax.typing.ArrayLike,
    bias: jax.typing.ArrayLike,
    running_mean: jax.typing.ArrayLike,
    running_var: jax.typing.ArrayLike,
    *,
    momentum: float = 0.1,
) -> tuple[dict, dict, float]:
    """Converts ``torch.nn.BatchNorm2d`` to ``nnx.BatchNorm`` params, stats and momentum.

    The affine parameters and running statistics are copied as they are. The momentum
    conventions are opposite: PyTorch updates ``r = (1 - m) r + m b`` (``m = 0.1`` by
    default), Flax ``r = m' r + (1 - m') b``, so ``m' = 1 - m`` (0.9). Both use
    ``epsilon = 1e-5``.

    Args:
      weight: ``(C,)``, the scale gamma.
      bias: ``(C,)``, the shift beta.
      running_mean: ``(C,)``.
      running_var: ``(C,)``.
      momentum: PyTorch's momentum (a float; PyTorch's ``None``, a cumulative average, has
        no Flax equivalent).

    Returns:
      ``({"scale", "bias"}, {"mean", "var"}, flax_momentum)``.

    Warning:
      Eval-mode outputs then agree exactly, but after a train-mode step the running
      variances differ: PyTorch stores the unbiased batch variance (``n / (n - 1)``), Flax
      the biased one. Keras' default epsilon is 1e-3, not 1e-5.

    Example:
      >>> params, stats, m = torch_batchnorm_to_nnx(jnp.ones(4), jnp.zeros(4), jnp.zeros(4),
      ...                                           jnp.ones(4))
      >>> sorted(params), sorted(stats), round(m, 6)
      (['bias', 'scale'], ['mean', 'var'], 0.9)

    References:
      ``torch.nn.BatchNorm2d``; ``flax.nnx.BatchNorm``; Ioffe and Szegedy, "Batch
      Normalization", https://arxiv.org/abs/1502.03167, 2015.
    """
    if momentum is None or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a float in [0, 1], got {momentum!r}")
    params = {"scale": jnp.asarray(weight), "bias": jnp.asarray(bias)}
    stats = {"mean": jnp.asarray(running_mean), "var": jnp.asarray(running_var)}
    return params, stats, 1.0 - momentum
