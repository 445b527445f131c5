"""Max, average and global average pooling of NHWC images."""

import jax
import jax.numpy as jnp

from dlcore.nn.conv import _extract_patches, _pair

__all__ = ["avg_pool", "global_avg_pool", "max_pool"]


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
