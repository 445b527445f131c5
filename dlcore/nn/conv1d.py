"""1-D convolution of batch-major sequences (NWC inputs, WIO kernels), with causal padding."""

import jax
import jax.numpy as jnp


def _conv1d_pads(width: int, kernel: int, stride: int, padding: str, dilation: int) -> tuple:
    """``(left, right)`` zero padding of the time axis for VALID, SAME (XLA) or CAUSAL."""
    span = (kernel - 1) * dilation
    if padding == "VALID":
        return (0, 0)
    if padding == "CAUSAL":
        return (span, 0)
    if padding == "SAME":
        out = -(-width // stride)
        total = max((out - 1) * stride + span + 1 - width, 0)
        return (total // 2, total - total // 2)
    raise ValueError(f"padding must be 'VALID', 'SAME' or 'CAUSAL', got {padding!r}")


def conv1d(
    x: jax.typing.ArrayLike,
    w: jax.typing.ArrayLike,
    b: jax.typing.ArrayLike,
    *,
    stride: int = 1,
    padding: str = "VALID",
    dilation: int = 1,
) -> jax.Array:
    """1-D cross-correlation of ``(N, W, C)`` sequences with a ``(K, C, O)`` kernel, plus a bias.

    ``y[n, t, o] = b[o] + sum_{k, c} x_pad[n, t * stride + k * dilation, c] * w[k, c, o]``,
    with ``x_pad`` the input zero-padded on the time axis:

    - ``"VALID"``: no padding, ``W_out = floor((W - (K - 1) * d - 1) / stride) + 1``;
    - ``"SAME"``: XLA's rule, ``W_out = ceil(W / stride)``, total pad
      ``max((W_out - 1) * stride + (K - 1) * d + 1 - W, 0)`` with the odd cell at the end;
    - ``"CAUSAL"``: ``(K - 1) * d`` zeros on the left only, so ``y[t]`` (stride 1) depends on
      ``x[t - (K - 1) d .. t]`` and never on the future; ``W_out = ceil(W / stride)``.

    The kernel is not flipped (cross-correlation, as every framework does).

    Args:
      x: inputs, shape ``(N, W, C)``.
      w: kernel, shape ``(K, C, O)``.
      b: bias, shape ``(O,)``.
      stride: step between outputs; static.
      padding: ``"VALID"``, ``"SAME"`` or ``"CAUSAL"``; static.
      dilation: spacing between kernel taps (holes in the kernel, not in the input); static.

    Returns:
      Array of shape ``(N, W_out, O)``.

    Warning:
      PyTorch's ``Conv1d`` is channels-first ``(N, C, W)`` with ``(O, C, K)`` weights and has
      no causal mode (pad ``(K - 1) * d`` on the left by hand); Keras's ``Conv1D`` and flax's
      ``nnx.Conv`` accept ``padding="causal"``/``"CAUSAL"`` with the same meaning as here.

    Example:
      >>> x = jnp.arange(1.0, 6.0).reshape(1, 5, 1)
      >>> w = jnp.ones((2, 1, 1))
      >>> conv1d(x, w, jnp.zeros(1), padding="CAUSAL")[0, :, 0]
      Array([1., 3., 5., 7., 9.], dtype=float32)

    References:
      Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016,
      https://arxiv.org/abs/1609.03499; Bai, Kolter and Koltun, "An Empirical Evaluation of
      Generic Convolutional and Recurrent Networks for Sequence Modeling", 2018,
      https://arxiv.org/abs/1803.01271; ``jax.lax.conv_general_dilated``.
    """
    x, w, b = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)
    if x.ndim != 3 or w.ndim != 3 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"expected x (N,W,C) and w (K,C,O), got {x.shape} and {w.shape}")
    kernel = w.shape[0]
    left, right = _conv1d_pads(x.shape[1], kernel, stride, padding, dilation)
    x = jnp.pad(x, ((0, 0), (left, right), (0, 0)))
    out = (x.shape[1] - (kernel - 1) * dilation - 1) // stride + 1
    if out <= 0:
        return jnp.zeros((x.shape[0], 0, w.shape[2]), jnp.result_type(x, w, b))
    taps = [
        x[:, k * dilation : k * dilation + (out - 1) * stride + 1 : stride, :]
        for k in range(kernel)
    ]
    patches = jnp.stack(taps, axis=2)  # (N, W_out, K, C)
    y = jnp.einsum("ntkc,kco->nto", patches, w)
    return y + jnp.reshape(b, (1, 1, -1))
