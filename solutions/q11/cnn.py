"""q11 CNN layers: reference solution.

Generated from dlcore.models.cnn, dlcore.nn.activations, dlcore.nn.conv, dlcore.nn.linear, dlcore.nn.pooling by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: conv2d, conv_output_size, max_pool, avg_pool, global_avg_pool, dense, init_cnn, cnn_apply.
"""

import jax
import jax.numpy as jnp


_CONV1_FEATURES = 16
_CONV2_FEATURES = 32


def relu(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Rectified linear unit, elementwise.

    .. math:: \mathrm{relu}(x) = \max(x, 0), \qquad \mathrm{relu}'(x) = [x > 0]

    Args:
      x: input array of any shape.

    Returns:
      An array like ``x``.

    Example:
      >>> relu(jnp.array([-2.0, 0.0, 3.0]))
      Array([0., 0., 3.], dtype=float32)

    References:
      Nair and Hinton, Rectified Linear Units Improve Restricted Boltzmann Machines, 2010.
    """
    x = jnp.asarray(x)
    # where() rather than jnp.maximum: maximum splits the gradient 1/2-1/2 at the tie x = 0,
    # jax.nn.relu and PyTorch use 0 there.
    return jnp.where(x > 0, x, 0)


def _pad_amounts(
    size: int, kernel: int, stride: int, padding: str, dilation: int
) -> tuple[int, int]:
    """(low, high) padding along one axis; SAME puts the odd extra cell at the high end."""
    if padding == "VALID":
        return (0, 0)
    out = conv_output_size(size, kernel, stride, padding, dilation)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return (total // 2, total - total // 2)


def _extract_patches(
    x: jax.Array,
    window: tuple[int, int],
    stride: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    pad_value: float,
) -> jax.Array:
    """Patches ``(N, OH, OW, KH, KW, C)`` of an NHWC input, padded with ``pad_value``."""
    _, height, width, _ = x.shape
    pads = [
        _pad_amounts(size, k, s, padding, d)
        for size, k, s, d in zip((height, width), window, stride, dilation, strict=True)
    ]
    x = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=pad_value)
    out_h = conv_output_size(height, window[0], stride[0], padding, dilation[0])
    out_w = conv_output_size(width, window[1], stride[1], padding, dilation[1])
    # A window that fits nowhere (out == 0) takes an empty slice; (out - 1) * stride + 1
    # would be a negative stop there, which Python reads as counting from the end.
    span_h = (out_h - 1) * stride[0] + 1 if out_h else 0
    span_w = (out_w - 1) * stride[1] + 1 if out_w else 0
    rows = []
    for i in range(window[0]):
        top = i * dilation[0]
        cols = []
        for j in range(window[1]):
            left = j * dilation[1]
            cols.append(x[:, top : top + span_h : stride[0], left : left + span_w : stride[1], :])
        rows.append(jnp.stack(cols, axis=3))
    return jnp.stack(rows, axis=3)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """Returns ``(value, value)`` for an int, the 2-tuple itself otherwise."""
    if isinstance(value, tuple | list):
        first, second = value
        return (int(first), int(second))
    return (int(value), int(value))


def conv2d(
    x: jax.typing.ArrayLike,
    w: jax.typing.ArrayLike,
    b: jax.typing.ArrayLike,
    *,
    stride: int | tuple[int, int] = 1,
    padding: str = "VALID",
    dilation: int | tuple[int, int] = 1,
) -> jax.Array:
    """2-D cross-correlation of NHWC images with an HWIO kernel, plus a bias.

    ``y[n, p, q, o] = b[o] + sum_{i, j, c} x_pad[n, p*sh + i*dh, q*sw + j*dw, c] * w[i, j, c, o]``
    where ``x_pad`` is ``x`` zero-padded as XLA's ``"SAME"`` does (total pad
    ``max((out - 1) * s + (k - 1) * d + 1 - in, 0)``, the odd cell at the bottom/right) or not
    at all for ``"VALID"``. Like every deep-learning "convolution" the kernel is not flipped.

    Args:
      x: images, shape ``(N, H, W, C)``.
      w: kernel, shape ``(KH, KW, C, O)``.
      b: bias, shape ``(O,)``.
      stride: int or ``(sh, sw)``; static.
      padding: ``"SAME"`` or ``"VALID"``; static.
      dilation: int or ``(dh, dw)``, the spacing of kernel taps (atrous); static.

    Returns:
      Array of shape ``(N, OH, OW, O)`` with ``OH = conv_output_size(H, KH, sh, padding, dh)``.

    Performance: on CPU, jitted, this patch formulation takes about 1-3x the time of
    ``lax.conv_general_dilated`` (measured, min of 7 runs, on a loaded shared 2-core machine:
    0.6-3.6x at 32x32x32x16 -> 32 and 2.1-3.2x at 16x56x56x64 -> 64, 3x3 kernels, SAME):
    the patch tensor is ``KH * KW`` times the input, and XLA's convolution never builds it.
    ``dlcore.nn.Conv2D(..., fast=True)`` runs XLA's convolution, pinned equal to this
    function by a test.

    Warning:
      dlcore is channels-last: images NHWC and kernels HWIO, as in JAX, Flax and TensorFlow.
      PyTorch uses NCHW images and OIHW kernels; port its weights with
      ``w_torch.transpose(2, 3, 1, 0)``. PyTorch's ``padding="same"`` also pads the odd cell
      at the bottom/right but only exists for stride 1; for stride > 1 it has no equivalent of
      XLA ``"SAME"`` (an int ``padding`` pads both sides equally).

    Example:
      >>> x = jnp.ones((1, 5, 5, 1))
      >>> w = jnp.ones((3, 3, 1, 2))
      >>> conv2d(x, w, jnp.zeros(2), stride=2, padding="SAME")[0, :, :, 0]
      Array([[4., 6., 4.],
             [6., 9., 6.],
             [4., 6., 4.]], dtype=float32)

    References:
      ``jax.lax.conv_general_dilated``,
      https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_general_dilated.html;
      Dumoulin and Visin, "A guide to convolution arithmetic for deep learning",
      https://arxiv.org/abs/1603.07285, 2016.
    """
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    x, w, b = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)
    if x.ndim != 4 or w.ndim != 4 or x.shape[-1] != w.shape[2]:
        raise ValueError(f"expected x (N,H,W,C) and w (KH,KW,C,O), got {x.shape} and {w.shape}")
    patches = _extract_patches(
        x, (w.shape[0], w.shape[1]), _pair(stride), padding, _pair(dilation), 0.0
    )
    # One (N*OH*OW, KH*KW*C) @ (KH*KW*C, O) matmul ("im2col"): the same sum as
    # einsum("npqijc,ijco->npqo"), which XLA on CPU runs 1.5-4x slower. Explicit sizes, not
    # -1, so that an empty output (OH or OW = 0) reshapes too.
    n, out_h, out_w, kh, kw, c = patches.shape
    y = patches.reshape(n * out_h * out_w, kh * kw * c) @ w.reshape(kh * kw * c, w.shape[-1])
    return y.reshape(n, out_h, out_w, w.shape[-1]) + b.reshape((1, 1, 1, -1))


def conv_output_size(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Spatial output size of a convolution or pooling along one axis.

    With the effective kernel ``k_eff = (kernel - 1) * dilation + 1``:
    ``"VALID"`` gives ``floor((size - k_eff) / stride) + 1`` (0 if the kernel does not fit),
    ``"SAME"`` gives ``ceil(size / stride)`` whatever the kernel (XLA/TensorFlow convention).

    Args:
      size: input length along the axis.
      kernel: kernel (window) length along the axis.
      stride: step between windows.
      padding: ``"SAME"`` or ``"VALID"``.
      dilation: spacing between kernel taps.

    Returns:
      The output length, a Python int.

    Example:
      >>> conv_output_size(8, 3, 2, "VALID"), conv_output_size(8, 3, 2, "SAME")
      (3, 4)

    References:
      Dumoulin and Visin, "A guide to convolution arithmetic for deep learning",
      https://arxiv.org/abs/1603.07285, 2016.
    """
    if padding == "SAME":
        return -(-size // stride)
    if padding == "VALID":
        effective = (kernel - 1) * dilation + 1
        return max(0, (size - effective) // stride + 1)
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")


def max_pool(
    x: jax.typing.ArrayLike,
    window: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: str = "VALID",
) -> jax.Array:
    """Max pooling over spatial windows of NHWC images.

    ``y[n, p, q, c] = max_{i < KH, j < KW} x_pad[n, p*sh + i, q*sw + j, c]``, where ``"SAME"``
    pads with ``-inf`` (XLA convention, odd cell at the bottom/right) so padding never wins.
    The gradient flows only to the element that attained the maximum.

    Args:
      x: images, shape ``(N, H, W, C)``.
      window: int or ``(KH, KW)``; static.
      stride: int or ``(sh, sw)``; static.
      padding: ``"SAME"`` or ``"VALID"``; static.

    Returns:
      Array of shape ``(N, OH, OW, C)``.

    Warning:
      PyTorch's ``MaxPool2d`` is NCHW, its stride defaults to the window, and it has no
      ``"SAME"``; an int ``padding`` pads both sides equally with ``-inf``.

    Example:
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> max_pool(x, 2, 2)[0, :, :, 0]
      Array([[ 5.,  7.],
             [13., 15.]], dtype=float32)

    References:
      ``flax.nnx.max_pool``, https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/pooling.html
    """
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    x = jnp.asarray(x)
    patches = _extract_patches(x, _pair(window), _pair(stride), padding, (1, 1), -jnp.inf)
    return jnp.max(patches, axis=(3, 4))


def avg_pool(
    x: jax.typing.ArrayLike,
    window: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: str = "VALID",
) -> jax.Array:
    """Average pooling over spatial windows of NHWC images.

    ``y[n, p, q, c] = (1 / (KH * KW)) sum_{i, j} x_pad[n, p*sh + i, q*sw + j, c]``; with
    ``"SAME"`` the zero padding counts in the denominator (``count_include_pad=True``).

    Args:
      x: images, shape ``(N, H, W, C)``.
      window: int or ``(KH, KW)``; static.
      stride: int or ``(sh, sw)``; static.
      padding: ``"SAME"`` or ``"VALID"``; static.

    Returns:
      Array of shape ``(N, OH, OW, C)``.

    Warning:
      Same convention as ``flax.nnx.avg_pool`` and PyTorch's default
      ``count_include_pad=True``; TensorFlow's ``"SAME"`` average pool instead divides by the
      number of real cells, so border outputs differ.

    Example:
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> avg_pool(x, 2, 2)[0, :, :, 0]
      Array([[ 2.5,  4.5],
             [10.5, 12.5]], dtype=float32)

    References:
      ``flax.nnx.avg_pool``, https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/pooling.html
    """
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    x = jnp.asarray(x)
    window = _pair(window)
    patches = _extract_patches(x, window, _pair(stride), padding, (1, 1), 0.0)
    return jnp.sum(patches, axis=(3, 4)) / (window[0] * window[1])


def global_avg_pool(x: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the spatial axes: ``y[n, c] = mean_{h, w} x[n, h, w, c]``.

    Args:
      x: images, shape ``(N, H, W, C)``.

    Returns:
      Array of shape ``(N, C)``.

    Example:
      >>> global_avg_pool(jnp.arange(8.0).reshape(1, 2, 2, 2))
      Array([[3., 4.]], dtype=float32)

    References:
      Lin, Chen and Yan, "Network In Network", https://arxiv.org/abs/1312.4400, 2013.
    """
    return jnp.mean(jnp.asarray(x), axis=(1, 2))


def dense(x: jax.typing.ArrayLike, w: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> jax.Array:
    """Affine map of the last axis: ``y = x @ w + b``.

    Args:
      x: inputs, shape ``(..., D)``.
      w: weights, shape ``(D, O)``.
      b: bias, shape ``(O,)``.

    Returns:
      Array of shape ``(..., O)``.

    Warning:
      ``w`` is ``(in, out)`` as in Flax (``kernel``); PyTorch's ``nn.Linear.weight`` is
      ``(out, in)`` and computes ``x @ weight.T + bias``.

    Example:
      >>> dense(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.arange(4.0))
      Array([[3., 4., 5., 6.],
             [3., 4., 5., 6.]], dtype=float32)

    References:
      ``flax.nnx.Linear``, https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/linear.html
    """
    x, w, b = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)
    y = jnp.einsum("...d,do->...o", x, w)
    return y + b.reshape((1,) * (y.ndim - 1) + (-1,))


def _he_normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    """Normal with variance ``2 / fan_in`` (He et al., 2015), suited to ReLU layers."""
    return jax.random.normal(key, shape, jnp.float32) * jnp.sqrt(2.0 / fan_in)


def init_cnn(key: jax.Array, num_classes: int = 10) -> dict:
    """Initializes the parameters of :func:`cnn_apply`.

    Conv kernels (HWIO) are He-normal (``std = sqrt(2 / (KH * KW * C_in))``), the dense
    head LeCun-normal (``std = sqrt(1 / D)``), all biases zero.

    Args:
      key: a ``jax.random.key``; split once per layer.
      num_classes: number of output logits.

    Returns:
      ``{"conv1": {"w": (3, 3, 1, 16), "b": (16,)}, "conv2": {"w": (3, 3, 16, 32),
      "b": (32,)}, "dense": {"w": (512, num_classes), "b": (num_classes,)}}``.

    Example:
      >>> params = init_cnn(jax.random.key(0))
      >>> params["conv2"]["w"].shape, params["dense"]["w"].shape
      ((3, 3, 16, 32), (512, 10))

    References:
      He et al., "Delving Deep into Rectifiers", https://arxiv.org/abs/1502.01852, 2015;
      LeCun et al., "Efficient BackProp", 1998.
    """
    k1, k2, k3 = jax.random.split(key, 3)
    flat = 4 * 4 * _CONV2_FEATURES
    return {
        "conv1": {
            "w": _he_normal(k1, (3, 3, 1, _CONV1_FEATURES), 9),
            "b": jnp.zeros(_CONV1_FEATURES),
        },
        "conv2": {
            "w": _he_normal(k2, (3, 3, _CONV1_FEATURES, _CONV2_FEATURES), 9 * _CONV1_FEATURES),
            "b": jnp.zeros(_CONV2_FEATURES),
        },
        "dense": {
            "w": jax.random.normal(k3, (flat, num_classes), jnp.float32) / jnp.sqrt(flat),
            "b": jnp.zeros(num_classes),
        },
    }


def cnn_apply(params: dict, x: jax.typing.ArrayLike) -> jax.Array:
    """Logits of the small digits CNN.

    ``conv3x3(16, SAME) -> relu -> max_pool 2 -> conv3x3(32, SAME) -> relu -> flatten ->
    dense``: ``(N, 8, 8, 1) -> (N, 8, 8, 16) -> (N, 4, 4, 16) -> (N, 4, 4, 32) -> (N, 512)
    -> (N, num_classes)``.

    Args:
      params: as returned by :func:`init_cnn`.
      x: images in ``[0, 1]``, shape ``(N, 8, 8, 1)``, NHWC.

    Returns:
      Logits of shape ``(N, num_classes)`` (no softmax; losses take logits).

    Example:
      >>> params = init_cnn(jax.random.key(0))
      >>> cnn_apply(params, jnp.zeros((2, 8, 8, 1))).shape
      (2, 10)

    References:
      LeCun et al., "Gradient-Based Learning Applied to Document Recognition", 1998.
    """
    h = relu(conv2d(x, params["conv1"]["w"], params["conv1"]["b"], padding="SAME"))
    h = max_pool(h, 2, 2)
    h = relu(conv2d(h, params["conv2"]["w"], params["conv2"]["b"], padding="SAME"))
    h = h.reshape((h.shape[0], -1))
    return dense(h, params["dense"]["w"], params["dense"]["b"])
