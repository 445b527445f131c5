"""q11 CNN layers: convolution, pooling and a small CNN, written with jax.numpy.

Graded tasks: conv2d, conv_output_size, max_pool, avg_pool, global_avg_pool, dense, init_cnn, cnn_apply.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q11
"""

import jax
import jax.numpy as jnp


# Given: use it as it is.
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


# Task: graded.
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
    raise NotImplementedError('q11 conv2d: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 conv_output_size: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 max_pool: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 avg_pool: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 global_avg_pool: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 dense: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 init_cnn: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q11 cnn_apply: write this function (see README.md)')
