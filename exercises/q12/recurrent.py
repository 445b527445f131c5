"""q12 LSTM and GRU: LSTM and GRU cells in flax.nnx's layout, run over time with one lax.scan.

Graded tasks: lstm_cell, gru_cell, run_rnn.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q12
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


# Task: graded.
def lstm_cell(
    params: dict[str, Any], carry: tuple[jax.Array, jax.Array], x: jax.typing.ArrayLike
) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """One LSTM step with ``flax.nnx.LSTMCell``'s parameter layout.

    ``i = sigmoid(x W_ii + h W_hi + b_hi)``, ``f = sigmoid(x W_if + h W_hf + b_hf)``,
    ``g = tanh(x W_ig + h W_hg + b_hg)``, ``o = sigmoid(x W_io + h W_ho + b_ho)``, then
    ``c' = f * c + i * g`` and ``h' = o * tanh(c')``. The additive path ``c -> f * c`` is what
    lets gradients cross many steps when ``f`` is near 1 (forget bias).

    Args:
      params: input kernels ``"ii"``, ``"if_"``, ``"ig"``, ``"io"`` as ``{"kernel": (D, H)}``
        and hidden kernels ``"hi"``, ``"hf"``, ``"hg"``, ``"ho"`` as
        ``{"kernel": (H, H), "bias": (H,)}``.
      carry: ``(c, h)``, each of shape ``(..., H)``; the cell state comes first.
      x: input, shape ``(..., D)`` with the same leading axes.

    Returns:
      ``((c', h'), h')``.

    Warning:
      flax puts the bias on the hidden projections only and initializes the forget bias to
      0; Keras uses ``unit_forget_bias=True`` (1); PyTorch keeps two biases per gate
      (``b_ih`` and ``b_hh``) and stacks the gates as ``i, f, g, o`` in ``(4H, D)`` weights.

    Example:
      >>> d, h = 2, 3
      >>> params = {k: {"kernel": jnp.zeros((d, h))} for k in ("ii", "if_", "ig", "io")}
      >>> params |= {k: {"kernel": jnp.zeros((h, h)), "bias": jnp.zeros(h)}
      ...            for k in ("hi", "hf", "hg", "ho")}
      >>> (c, h_new), y = lstm_cell(params, (jnp.ones((1, h)), jnp.zeros((1, h))), jnp.ones((1, d)))
      >>> c  # f = 1/2 keeps half of c; g = 0 adds nothing
      Array([[0.5, 0.5, 0.5]], dtype=float32)

    References:
      Hochreiter and Schmidhuber, "Long Short-Term Memory", Neural Computation 9, 1997;
      Gers, Schmidhuber and Cummins, "Learning to Forget", 2000; ``flax.nnx.LSTMCell``.
    """
    raise NotImplementedError('q12 lstm_cell: write this function (see README.md)')


# Task: graded.
def gru_cell(
    params: dict[str, Any], h: jax.typing.ArrayLike, x: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """One GRU step with ``flax.nnx.GRUCell``'s layout (reset applied after the matmul).

    With ``[x_r, x_z, x_n] = x W_i + b_i`` and ``[h_r, h_z, h_n] = h W_h`` (split in that
    order along the ``3H`` axis): ``r = sigmoid(x_r + h_r)``, ``z = sigmoid(x_z + h_z)``,
    ``n = tanh(x_n + r * h_n)`` and ``h' = (1 - z) * n + z * h``. So ``z`` near 1 keeps the
    old state.

    Args:
      params: ``{"dense_i": {"kernel": (D, 3H), "bias": (3H,)}, "dense_h": {"kernel": (H, 3H)}}``.
      h: hidden state, shape ``(..., H)``.
      x: input, shape ``(..., D)``.

    Returns:
      ``(h', h')``.

    Warning:
      Cho et al. (2014) and Keras ``reset_after=False`` apply the reset before the matmul,
      ``n = tanh(x_n + (r * h) W_hn)``; flax, PyTorch and cuDNN apply it after, and PyTorch
      has a separate hidden bias ``b_hn`` inside the product with ``r``, which flax lacks.

    Example:
      >>> d, h = 2, 3
      >>> params = {"dense_i": {"kernel": jnp.zeros((d, 3 * h)), "bias": jnp.zeros(3 * h)},
      ...           "dense_h": {"kernel": jnp.zeros((h, 3 * h))}}
      >>> gru_cell(params, jnp.ones(h), jnp.ones(d))[0]  # z = 1/2, n = 0: halves h
      Array([0.5, 0.5, 0.5], dtype=float32)

    References:
      Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
      Machine Translation", 2014, https://arxiv.org/abs/1406.1078; ``flax.nnx.GRUCell``.
    """
    raise NotImplementedError('q12 gru_cell: write this function (see README.md)')


# Task: graded.
def run_rnn(
    cell_fn: Callable[[Any, Any, jax.Array], tuple[Any, jax.Array]],
    params: Any,
    xs: jax.typing.ArrayLike,
    carry0: Any,
    *,
    seq_lengths: jax.typing.ArrayLike | None = None,
) -> tuple[Any, jax.Array]:
    """Runs ``cell_fn`` over a batch-major sequence with one ``lax.scan``, masking padding.

    ``carry_t, y_t = cell_fn(params, carry_{t-1}, x_t)``. With ``seq_lengths`` (one length
    ``L_b`` in ``[0, T]`` per example), steps ``t >= L_b`` neither change example ``b``'s carry
    nor produce output: the final carry is the one after step ``L_b - 1`` (``carry0`` itself
    when ``L_b = 0``) and ``ys[b, t] = 0``.

    Args:
      cell_fn: ``cell_fn(params, carry, x_t) -> (carry, y_t)`` with batched ``x_t`` of shape
        ``(B, D)``; static under jit.
      params: the cell's parameters, passed unchanged to every step.
      xs: inputs, shape ``(B, T, D)``.
      carry0: initial carry, a pytree whose leaves have a leading axis ``B``.
      seq_lengths: ints of shape ``(B,)``, or None for full-length sequences.

    Returns:
      ``(carry, ys)`` with ``ys`` of shape ``(B, T, H)``.

    Warning:
      ``flax.nnx.RNN(seq_lengths=...)`` picks the right final carry but keeps computing the
      outputs over the padding (they are not zeroed), and a length of 0 selects the carry at
      index -1 (the last step) instead of the initial one.

    Example:
      >>> cell = lambda p, h, x: (h + x, h + x)  # a running sum
      >>> xs = jnp.ones((2, 4, 1))
      >>> carry, ys = run_rnn(cell, None, xs, jnp.zeros((2, 1)), seq_lengths=jnp.array([4, 2]))
      >>> carry[:, 0], ys[:, :, 0]
      (Array([4., 2.], dtype=float32), Array([[1., 2., 3., 4.],
             [1., 2., 0., 0.]], dtype=float32))

    References:
      ``flax.nnx.RNN``; ``jax.lax.scan``,
      https://docs.jax.dev/en/latest/_autosummary/jax.lax.scan.html.
    """
    raise NotImplementedError('q12 run_rnn: write this function (see README.md)')
