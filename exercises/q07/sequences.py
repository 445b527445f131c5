"""q07 CNN vs RNN: a dilated/causal 1-D convolution, an Elman RNN scan, receptive fields and parameter counts.

Graded tasks: conv1d, rnn_scan, receptive_field, count_params.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q07
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


# Task: graded.
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
    raise NotImplementedError('q07 conv1d: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q07 rnn_scan: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q07 receptive_field: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q07 count_params: write this function (see README.md)')
