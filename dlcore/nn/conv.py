"""2-D convolution (NHWC images, HWIO kernels) by patch extraction and one einsum."""

import jax
import jax.numpy as jnp

__all__ = ["conv2d", "conv_output_size"]


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """Returns ``(value, value)`` for an int, the 2-tuple itself otherwise."""
    if isinstance(value, tuple | list):
        first, second = value
        return (int(first), int(second))
    return (int(value), int(value))


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
