"""Known-wrong and correct-but-different CNN/RNN sequence code for the q07 grader.

Check ids of grader/specs/q07.py (inputs; what is compared; tolerance).

- ``conv1d/matches_lax``: stride {1, 2} x padding {VALID, SAME, CAUSAL} x dilation {1, 2} x
  K {2, 3} on x (2, 11, 3), w (K, 3, 4), b (4,), plus CAUSAL stride 2 dilation 2 on W = 10
  (5 outputs): equal to dlcore, which tests/test_conv1d.py pins to
  ``lax.conv_general_dilated`` and ``nnx.Conv(padding="CAUSAL")`` (float32 tolerance).
- ``conv1d/gradients``: stride 2, dilation 2, SAME and CAUSAL: grads of ``sum(c * y)`` in x,
  w and b.
- ``conv1d/jit``: jit (static stride/padding/dilation) equals eager.
- ``conv1d/vmap``: vmap over an extra leading axis of x equals a loop.
- ``conv1d/translation_equivariance``: VALID, stride 1 and 2, dilation 1 and 2, x (2, 20, 3):
  dropping the first ``sh`` input steps drops the first ``sh / stride`` outputs.
- ``conv1d/causal_no_future``: x64, ``conv1d(CAUSAL, K=3, d=1) -> tanh -> conv1d(CAUSAL,
  K=3, d=2)`` on x (1, 12, 1); ``jacfwd``: ``dy_t/dx_s == 0`` exactly for s > t and for
  s < t - 6 (receptive field 7), nonzero for s == t.
- ``conv1d/train_digits`` (TRAIN): digits as 8 rows x 8 features (pixels / 16), the 1347/450
  split of grader/recipes.py, LeCun-normal init, zero biases, Adam 3e-3, batches of 64, one
  jitted ``lax.scan``: two SAME K = 3 convs (32, 64 channels), ReLU, mean over time, dense 10,
  1200 steps, >= 0.93. Measured on dlcore: 0.973, 0.956, 0.971 (seeds 0-2; the check uses
  seed 0) and 0.953-0.973 (library engineer, seeds 0-4); about 6 s of CPU.
- ``conv1d/forbidden``, ``rnn_scan/forbidden``: no lax.conv*, reduce_window, flax, jnp.convolve
  or correlate, jax.scipy.signal in conv1d; no flax in rnn_scan.
- ``rnn_scan/matches_nnx``: (B, T, D, H) = (3, 6, 4, 5), (2, 9, 3, 7), (1, 1, 2, 3), h0 ~
  0.5 N(0, 1): ``(h_T, hs)`` equal dlcore, which tests/test_recurrent.py pins to
  ``nnx.RNN(nnx.SimpleCell, return_carry=True)``.
- ``rnn_scan/one_scan``: the jaxpr (sub-jaxprs included) holds exactly one ``scan``, of length
  T, and the same equation count for T = 8 and T = 64.
- ``rnn_scan/causal_unbounded``: x64, D = 2, H = 3, T = 7, ``w_hh ~ 0.5 N(0, 1/H)``: ``jacfwd``
  of hs: zero exactly for s > t and nonzero (Frobenius norm > 0) for every s <= t.
- ``rnn_scan/train_digits`` (TRAIN): the same data and recipe, Elman RNN H = 64, h0 = 0, last
  state -> dense 10, 600 steps, >= 0.93. Measured on dlcore: 0.980, 0.978, 0.971 (seeds 0-2)
  and 0.973-0.987 (library engineer); about 4 s of CPU.
- ``receptive_field/jacobian_span``: x64 VALID tanh stacks of 1-channel convs (the grader's
  own lax conv) on an input of length 60, for (kernels, strides, dilations) = ((4, 3, 2),
  (3, 2, 1), (1, 1, 2)), ((3, 3), (2, 1), (1, 1)), ((2, 2, 2), (1, 1, 1), (1, 2, 4)): every
  Jacobian row spans exactly ``receptive_field(...)`` inputs; the result is a Python int.
- ``count_params/formula``: ``{"w": (3, 5, 7), "b": (7,)}``, an RNN dict (D = 4, H = 6), two
  conv layers, and the RNN as ``jax.ShapeDtypeStruct`` leaves: the sum of leaf sizes, a
  Python int.
"""

from tests.grading import Alternative, Mutant

_CONV = 'x, w, b, *, stride=1, padding="VALID", dilation=1'


def _conv_with_pads(pads):
    """A conv1d that pads as ``pads`` says (an expression in K, d, W, stride), then VALID."""
    return f"""
def conv1d({_CONV}):
    x = jnp.asarray(x)
    K, W = w.shape[0], x.shape[1]
    d = dilation
    if padding == "VALID":
        return _original_conv1d(x, w, b, stride=stride, padding="VALID", dilation=dilation)
    left, right = {pads}
    x = jnp.pad(x, ((0, 0), (left, right), (0, 0)))
    return _original_conv1d(x, w, b, stride=stride, padding="VALID", dilation=dilation)
"""


_SAME_TOTAL = "max((-(-W // stride) - 1) * stride + (K - 1) * d + 1 - W, 0)"

_RNN = "params, xs, h0"

MUTANTS = [
    Mutant(
        "conv_flipped_kernel",
        "conv1d",
        "conv1d/matches_lax",
        f"""
def conv1d({_CONV}):
    return _original_conv1d(x, w[::-1], b, stride=stride, padding=padding, dilation=dilation)
""",
    ),
    Mutant(
        "conv_same_odd_pad_first",
        "conv1d",
        "conv1d/matches_lax",
        _conv_with_pads(
            f"(({_SAME_TOTAL}) - ({_SAME_TOTAL}) // 2, ({_SAME_TOTAL}) // 2) if padding == 'SAME' "
            "else ((K - 1) * d, 0)"
        ),
    ),
    Mutant(
        "conv_causal_symmetric",
        "conv1d",
        "conv1d/causal_no_future",
        _conv_with_pads(
            f"(({_SAME_TOTAL}) // 2, ({_SAME_TOTAL}) - ({_SAME_TOTAL}) // 2) if padding == 'SAME' "
            "else ((K - 1) * d // 2, (K - 1) * d - (K - 1) * d // 2)"
        ),
    ),
    Mutant(
        "conv_causal_right",
        "conv1d",
        "conv1d/causal_no_future",
        _conv_with_pads(
            f"(({_SAME_TOTAL}) // 2, ({_SAME_TOTAL}) - ({_SAME_TOTAL}) // 2) if padding == 'SAME' "
            "else (0, (K - 1) * d)"
        ),
    ),
    Mutant(
        "conv_dilates_input",
        "conv1d",
        "conv1d/matches_lax",
        f"""
def conv1d({_CONV}):
    x = jnp.asarray(x)
    if dilation == 1:
        return _original_conv1d(x, w, b, stride=stride, padding=padding)
    n, width, c = x.shape
    spread = jnp.zeros((n, (width - 1) * dilation + 1, c), x.dtype).at[:, ::dilation].set(x)
    return _original_conv1d(spread, w, b, stride=stride, padding=padding)
""",
    ),
    # rnn_scan
    Mutant(
        "rnn_scans_batch_axis",
        "rnn_scan",
        "rnn_scan/matches_nnx",
        f"""
def rnn_scan({_RNN}):
    def step(h, x_t):  # xs not transposed: the scan runs over the batch axis
        h = jnp.tanh(x_t @ params["w_xh"] + h @ params["w_hh"] + params["b_h"][None, :])
        return h, h

    h_last, hs = jax.lax.scan(step, h0, xs)
    return h_last, hs
""",
    ),
    Mutant(
        "rnn_python_loop",
        "rnn_scan",
        "rnn_scan/one_scan",
        f"""
def rnn_scan({_RNN}):
    h, hs = h0, []
    for t in range(xs.shape[1]):
        h = jnp.tanh(xs[:, t] @ params["w_xh"] + h @ params["w_hh"] + params["b_h"][None, :])
        hs.append(h)
    return h, jnp.stack(hs, axis=1)
""",
    ),
    Mutant(
        "rnn_ignores_h0",
        "rnn_scan",
        "rnn_scan/matches_nnx",
        f"""
def rnn_scan({_RNN}):
    return _original_rnn_scan(params, xs, jnp.zeros_like(h0))
""",
    ),
    Mutant(
        "rnn_time_major_output",
        "rnn_scan",
        "rnn_scan/matches_nnx",
        f"""
def rnn_scan({_RNN}):
    h_last, hs = _original_rnn_scan(params, xs, h0)
    return h_last, jnp.swapaxes(hs, 0, 1)
""",
    ),
    # receptive_field
    Mutant(
        "rf_ignores_strides",
        "receptive_field",
        "receptive_field/jacobian_span",
        """
def receptive_field(kernel_sizes, strides, dilations):
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))
""",
    ),
    Mutant(
        "rf_includes_own_stride",
        "receptive_field",
        "receptive_field/jacobian_span",
        """
def receptive_field(kernel_sizes, strides, dilations):
    field, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations):
        jump *= s
        field += (k - 1) * d * jump
    return field
""",
    ),
    # count_params
    Mutant(
        "count_leaves",
        "count_params",
        "count_params/formula",
        """
def count_params(params):
    return len(jax.tree.leaves(params))
""",
    ),
    Mutant(
        "count_jax_scalar",
        "count_params",
        "count_params/formula",
        """
def count_params(params):
    return jnp.sum(jnp.array([jnp.size(x) for x in jax.tree.leaves(params)]))
""",
    ),
    # conv1d: the checks beyond the values
    Mutant(
        "conv_kernel_cut_from_graph",
        "conv1d",
        "conv1d/gradients",
        f"""
def conv1d({_CONV}):
    w = jax.lax.stop_gradient(w)
    return _original_conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation)
""",
    ),
    Mutant(
        "conv_python_if_on_values",
        "conv1d",
        "conv1d/jit",
        f"""
def conv1d({_CONV}):
    if float(jnp.max(jnp.abs(b))) == 0.0:
        return _original_conv1d(x, w, jnp.zeros_like(b), stride=stride, padding=padding,
                                dilation=dilation)
    return _original_conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation)
""",
        status="error",
    ),
    Mutant(
        "conv_pads_with_numpy",
        "conv1d",
        "conv1d/vmap",
        f"""
import numpy as np


def conv1d({_CONV}):
    k, d = w.shape[0], dilation
    if padding == "CAUSAL":  # np.pad on the values: fine eagerly, a tracer error under vmap
        x = jnp.asarray(np.pad(np.asarray(x), ((0, 0), ((k - 1) * d, 0), (0, 0))))
        padding = "VALID"
    return _original_conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation)
""",
        status="error",
    ),
    Mutant(
        "conv_zeroes_first_output",
        "conv1d",
        "conv1d/translation_equivariance",
        f"""
def conv1d({_CONV}):
    y = _original_conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    return y.at[:, 0].set(b)
""",
    ),
    Mutant(
        "conv_frozen_output",
        "conv1d",
        "conv1d/train_digits",
        f"""
def conv1d({_CONV}):
    y = _original_conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    return jax.lax.stop_gradient(y)
""",
    ),
    Mutant(
        "conv_calls_lax",
        "conv1d",
        "conv1d/forbidden",
        f"""
def conv1d({_CONV}):
    k, d = w.shape[0], dilation
    pad = [((k - 1) * d, 0)] if padding == "CAUSAL" else padding
    y = jax.lax.conv_general_dilated(x, w, (stride,), pad, rhs_dilation=(d,),
                                     dimension_numbers=("NWC", "WIO", "NWC"))
    return y + b
""",
        status="forbidden",
    ),
    # rnn_scan: the checks beyond the values
    Mutant(
        "rnn_detached_state",
        "rnn_scan",
        "rnn_scan/causal_unbounded",
        f"""
def rnn_scan({_RNN}):
    def step(h, x_t):  # truncated backprop: the carried state is cut from the graph
        h = jax.lax.stop_gradient(h)
        h = jnp.tanh(x_t @ params["w_xh"] + h @ params["w_hh"] + params["b_h"][None, :])
        return h, h

    h_last, hs = jax.lax.scan(step, h0, jnp.swapaxes(xs, 0, 1))
    return h_last, jnp.swapaxes(hs, 0, 1)
""",
    ),
    Mutant(
        "rnn_returns_first_state",
        "rnn_scan",
        "rnn_scan/train_digits",
        f"""
def rnn_scan({_RNN}):
    h_last, hs = _original_rnn_scan(params, xs, h0)
    return hs[:, 0], hs
""",
    ),
    Mutant(
        "rnn_calls_nnx",
        "rnn_scan",
        "rnn_scan/forbidden",
        f"""
from flax import nnx


def rnn_scan({_RNN}):
    d, h = params["w_xh"].shape
    rnn = nnx.RNN(nnx.SimpleCell(d, h, rngs=nnx.Rngs(0)), return_carry=True)
    rnn.cell.dense_i.kernel.value = params["w_xh"]
    rnn.cell.dense_i.bias.value = params["b_h"]
    rnn.cell.dense_h.kernel.value = params["w_hh"]
    return rnn(xs, initial_carry=h0)
""",
        status="forbidden",
    ),
]

ALTERNATIVES = [
    Alternative(
        "conv_sum_of_taps",
        "conv1d",
        f"""
def conv1d({_CONV}):
    x, w = jnp.asarray(x), jnp.asarray(w)
    K, W = w.shape[0], x.shape[1]
    span = (K - 1) * dilation
    if padding == "VALID":
        pads = (0, 0)
    elif padding == "CAUSAL":
        pads = (span, 0)
    else:
        total = max((-(-W // stride) - 1) * stride + span + 1 - W, 0)
        pads = (total // 2, total - total // 2)
    xp = jnp.pad(x, ((0, 0), pads, (0, 0)))
    out = (xp.shape[1] - span - 1) // stride + 1
    y = sum(
        jnp.tensordot(xp[:, k * dilation : k * dilation + (out - 1) * stride + 1 : stride], w[k],
                      axes=1)
        for k in range(K)
    )
    return y + jnp.reshape(b, (1, 1, -1))
""",
    ),
    Alternative(
        "rnn_transpose_and_tuple",
        "rnn_scan",
        f"""
def rnn_scan({_RNN}):
    w_xh, w_hh, b_h = params["w_xh"], params["w_hh"], params["b_h"]
    pre = jnp.einsum("btd,dh->tbh", xs, w_xh) + b_h[None, None, :]

    def step(h, p_t):
        h = jnp.tanh(p_t + h @ w_hh)
        return h, h

    h_last, hs = jax.lax.scan(step, h0, pre)
    return h_last, jnp.transpose(hs, (1, 0, 2))
""",
    ),
    Alternative(
        "rf_backward_recursion",
        "receptive_field",
        """
def receptive_field(kernel_sizes, strides, dilations):
    r = 1
    for k, s, d in reversed(list(zip(kernel_sizes, strides, dilations))):
        r = s * (r - 1) + (k - 1) * d + 1
    return int(r)
""",
    ),
    Alternative(
        "count_sizes",
        "count_params",
        """
def count_params(params):
    total = 0
    for leaf in jax.tree.leaves(params):
        n = 1
        for dim in leaf.shape:
            n *= dim
        total += n
    return int(total)
""",
    ),
]
