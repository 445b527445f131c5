"""q07 CNN vs RNN: reference solution.

Generated from dlcore.nn.conv1d, dlcore.nn.receptive, dlcore.nn.recurrent by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: conv1d, rnn_scan, receptive_field, count_params.
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


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


def rnn_scan(
    params: dict[str, Any], xs: jax.typing.ArrayLike, h0: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Elman RNN over a batch-major sequence, as one ``lax.scan`` over time.

    ``h_t = tanh(x_t @ w_xh + h_{t-1} @ w_hh + b_h)`` for ``t = 1..T``, starting at ``h0``.
    The time axis is moved to the front for the scan and back afterwards; the compiled
    program has the same size for every ``T``.

    Args:
      params: ``{"w_xh": (D, H), "w_hh": (H, H), "b_h": (H,)}``.
      xs: inputs, shape ``(B, T, D)``.
      h0: initial state, shape ``(B, H)``.

    Returns:
      ``(h_T, hs)`` with ``hs`` of shape ``(B, T, H)`` and ``h_T = hs[:, -1]``.

    Warning:
      ``flax.nnx.SimpleCell`` names these ``dense_i.kernel`` (``w_xh``), ``dense_i.bias``
      (``b_h``) and ``dense_h.kernel`` (``w_hh``, no bias). PyTorch's ``nn.RNN`` stores
      transposed ``(H, D)`` weights, two biases ``b_ih`` and ``b_hh``, and is time-major
      unless ``batch_first=True``.

    Example:
      >>> params = {"w_xh": jnp.ones((1, 2)), "w_hh": jnp.zeros((2, 2)), "b_h": jnp.zeros(2)}
      >>> h_last, hs = rnn_scan(params, jnp.zeros((3, 5, 1)), jnp.zeros((3, 2)))
      >>> h_last.shape, hs.shape
      ((3, 2), (3, 5, 2))

    References:
      Elman, "Finding Structure in Time", Cognitive Science 14, 1990;
      ``flax.nnx.SimpleCell`` and ``flax.nnx.RNN``.
    """
    w_xh = jnp.asarray(params["w_xh"])
    w_hh = jnp.asarray(params["w_hh"])
    b_h = jnp.asarray(params["b_h"])

    def step(h, x_t):
        h = jnp.tanh(x_t @ w_xh + h @ w_hh + b_h[None, :])
        return h, h

    h_last, hs = lax.scan(step, jnp.asarray(h0), jnp.swapaxes(jnp.asarray(xs), 0, 1))
    return h_last, jnp.swapaxes(hs, 0, 1)


def receptive_field(
    kernel_sizes: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> int:
    """Number of input positions spanned by one output of a stack of 1-D convolutions.

    ``RF = 1 + sum_l (k_l - 1) * d_l * prod_{j < l} s_j``: layer ``l`` widens the span by
    ``(k_l - 1) * d_l`` of *its* input steps, and one of those steps is ``prod_{j<l} s_j``
    steps of the original input (a layer's own stride does not widen its own window). This
    is the span from the first to the last input that reaches the output; with dilation some
    positions inside the span are not connected at all. Python ints; not jitted.

    Args:
      kernel_sizes: ``k_l`` per layer, input side first.
      strides: ``s_l`` per layer.
      dilations: ``d_l`` per layer.

    Returns:
      The receptive field, a Python int.

    Example:
      >>> receptive_field([3, 3, 3], [1, 1, 1], [1, 2, 4])  # WaveNet-style doubling
      15
      >>> receptive_field([4, 3, 2], [3, 2, 1], [1, 1, 2])
      22

    References:
      Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks",
      Distill 2019, https://distill.pub/2019/computing-receptive-fields/.
    """
    if not len(kernel_sizes) == len(strides) == len(dilations):
        raise ValueError("kernel_sizes, strides and dilations must have the same length")
    field, jump = 1, 1
    for kernel, stride, dilation in zip(kernel_sizes, strides, dilations, strict=True):
        field += (int(kernel) - 1) * int(dilation) * jump
        jump *= int(stride)
    return field


def count_params(params: Any) -> int:
    """Total number of scalars in a pytree: the sum of the sizes of its leaves.

    A conv layer ``{w: (K, C, O), b: (O,)}`` has ``K*C*O + O`` parameters whatever the
    sequence length; an Elman RNN ``D*H + H^2 + H`` whatever ``T``. Not jitted.

    Args:
      params: any pytree of arrays (or ``jax.ShapeDtypeStruct``).

    Returns:
      A Python int.

    Example:
      >>> count_params({"w": jnp.zeros((3, 4, 8)), "b": jnp.zeros(8)})
      104

    References:
      ``jax.tree.leaves``, https://docs.jax.dev/en/latest/pytrees.html.
    """
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
