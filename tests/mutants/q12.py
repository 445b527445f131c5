"""Known-wrong and correct-but-different LSTM/GRU code for the q12 grader.

The spec (grader/specs/q12.py) compares with dlcore, which tests/test_recurrent.py pins to
flax 0.12.8's ``nnx.LSTMCell``, ``nnx.GRUCell`` and ``nnx.RNN``. Params are NumPy draws in
nnx's layout, every bias 0.3 N(0, 1); carries 0.5 N(0, 1) with ``c != h``. run_rnn checks
drive the grader's own LSTM and GRU cells, so only run_rnn is under test there.

- ``lstm_cell/matches_nnx``, ``gru_cell/matches_nnx``: D = 4, H = 5, x of shape (3, 4) and
  unbatched (4,): ``((c', h'), h')`` / ``(h', h')`` (rtol 1e-4, atol 1e-5).
- ``lstm_cell/forget_bias_reach``: T = 100, D = 8, H = 32, LeCun-normal input kernels,
  orthogonal hidden kernels, x ~ N(0, 1), unbatched, zero carry, the learner's cell in the
  grader's ``lax.scan``: ``||d h_T / d x_1||`` (jacfwd) < 1e-6 with ``hf.bias = 0`` and
  > 1e-2 with ``hf.bias = 5``. Measured on the reference: 0.0 and 0.99 on the grader's case
  (0.0 and 2.1, 5.8, 2.2 on three other draws).
- ``run_rnn/matches_nnx_rnn``: B = 3, T = 6, no lengths, both cells: ys and the carry.
- ``run_rnn/matches_nnx_rnn_lengths``: lengths (6, 1, 3): ys (zeros past the end, where
  nnx.RNN keeps computing) and the final carry.
- ``run_rnn/padding_zero_and_length_zero``: lengths (0, 6, 2): ys[b, t] == 0 exactly for
  t >= len_b; the final carry of example 0 equals its carry0 exactly.
- ``run_rnn/jit``: jit (``cell_fn`` static) equals eager; ``run_rnn/vmap``: vmap over an
  extra leading axis of xs, carry0 and seq_lengths equals a loop.
- ``run_rnn/gradient_matches_reference``: grad with respect to the GRU params of
  ``sum(cot * (carry, ys))`` with lengths (6, 2, 4).
- ``run_rnn/one_scan``: the jaxpr of ``run_rnn`` holds exactly one ``scan`` (counted in
  nested jaxprs too) and the same number of equations for T = 8 and T = 64.
- ``run_rnn/train_gru_digits`` (TRAIN): a GRU (H = 64, zero h0, last carry -> dense 10) on the
  learner's ``gru_cell`` and ``run_rnn``; digits as 8 rows x 8 features (pixels / 16),
  ``grader/recipes.py`` (450 stratified test images, Adam 3e-3, 600 steps of 64 drawn without
  replacement, one jitted ``lax.scan``), LeCun-normal init: test accuracy >= 0.93.
  Measured on the reference: 0.969, 0.980, 0.973 (seeds 0, 1, 2; the grader uses seed 0);
  a run_rnn that never threads the carry reaches 0.53.
- ``<task>/forbidden``: no flax or optax.
"""

from tests.grading import Alternative, Mutant

_LSTM_BODY = """
def _lin(x, layer):
    y = x @ layer["kernel"]
    if "bias" in layer:
        y = y + layer["bias"].reshape((1,) * (y.ndim - 1) + (-1,))
    return y


def lstm_cell(params, carry, x):
    {unpack}
    i = jax.nn.sigmoid(_lin(x, params["{ii}"]) + _lin(h, params["{hi}"]))
    f = jax.nn.sigmoid(_lin(x, params["{if_}"]) + _lin(h, params["{hf}"]))
    g = jnp.tanh(_lin(x, params["ig"]) + _lin(h, params["hg"]))
    o = jax.nn.sigmoid(_lin(x, params["io"]) + _lin(h, params["ho"]))
    new_c = {new_c}
    new_h = {new_h}
    return {ret}, new_h
"""


def _lstm(
    unpack="c, h = carry",
    gates=("ii", "hi", "if_", "hf"),
    new_c="f * c + i * g",
    new_h="o * jnp.tanh(new_c)",
    ret="(new_c, new_h)",
):
    ii, hi, if_, hf = gates
    return _LSTM_BODY.format(
        unpack=unpack, ii=ii, hi=hi, if_=if_, hf=hf, new_c=new_c, new_h=new_h, ret=ret
    )


_GRU_BODY = """
def gru_cell(params, h, x):
    bi = params["dense_i"]["bias"].reshape((1,) * (x.ndim - 1) + (-1,))
    xr, xz, xn = jnp.split(x @ params["dense_i"]["kernel"] + bi, 3, -1)
    wr, wz, wn = jnp.split(params["dense_h"]["kernel"], 3, -1)
    r = jax.nn.sigmoid(xr + h @ wr)
    z = jax.nn.sigmoid(xz + h @ wz)
    n = {n}
    new_h = {new_h}
    return new_h, new_h
"""

_RUN = "cell_fn, params, xs, carry0, *, seq_lengths=None"

# an "optimization" that reads the lengths as Python ints: fine eagerly, not under jit or vmap
_SCAN_TO_LONGEST = f"""
def run_rnn({_RUN}):
    xs = jnp.asarray(xs)
    if seq_lengths is None:
        return _original_run_rnn(cell_fn, params, xs, carry0)
    longest = int(jnp.max(jnp.asarray(seq_lengths)))
    carry, ys = _original_run_rnn(cell_fn, params, xs[:, :longest], carry0,
                                  seq_lengths=seq_lengths)
    pad = jnp.zeros((ys.shape[0], xs.shape[1] - longest) + ys.shape[2:], ys.dtype)
    return carry, jnp.concatenate([ys, pad], axis=1)
"""

MUTANTS = [
    Mutant(
        "lstm_i_f_swapped",
        "lstm_cell",
        "lstm_cell/matches_nnx",
        _lstm(gates=("if_", "hf", "ii", "hi")),
    ),
    Mutant("lstm_no_input_gate", "lstm_cell", "lstm_cell/matches_nnx", _lstm(new_c="f * c + g")),
    Mutant("lstm_no_tanh_on_cell", "lstm_cell", "lstm_cell/matches_nnx", _lstm(new_h="o * new_c")),
    Mutant(
        "lstm_carry_h_c",
        "lstm_cell",
        "lstm_cell/matches_nnx",
        _lstm(unpack="h, c = carry", ret="(new_h, new_c)"),
    ),
    Mutant(
        "lstm_cell_state_cut_from_graph",
        "lstm_cell",
        "lstm_cell/forget_bias_reach",
        _lstm(new_c="f * jax.lax.stop_gradient(c) + i * g"),
    ),
    Mutant(
        "lstm_calls_nnx",
        "lstm_cell",
        "lstm_cell/forbidden",
        """
def lstm_cell(params, carry, x):
    from flax import nnx

    cell = nnx.LSTMCell(x.shape[-1], carry[1].shape[-1], rngs=nnx.Rngs(0))
    nnx.update(cell, nnx.State(params))
    return cell(carry, x)
""",
        status="forbidden",
    ),
    Mutant(
        "gru_reset_before_matmul",
        "gru_cell",
        "gru_cell/matches_nnx",
        _GRU_BODY.format(n="jnp.tanh(xn + (r * h) @ wn)", new_h="(1 - z) * n + z * h"),
    ),
    Mutant(
        "gru_z_flipped",
        "gru_cell",
        "gru_cell/matches_nnx",
        _GRU_BODY.format(n="jnp.tanh(xn + r * (h @ wn))", new_h="z * n + (1 - z) * h"),
    ),
    Mutant(
        "gru_hidden_bias",
        "gru_cell",
        "gru_cell/matches_nnx",
        """
def gru_cell(params, h, x):
    bi = params["dense_i"]["bias"].reshape((1,) * (x.ndim - 1) + (-1,))
    xr, xz, xn = jnp.split(x @ params["dense_i"]["kernel"] + bi, 3, -1)
    bh = params["dense_h"]["bias"].reshape((1,) * (h.ndim - 1) + (-1,))
    hr, hz, hn = jnp.split(h @ params["dense_h"]["kernel"] + bh, 3, -1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    new_h = (1 - z) * n + z * h
    return new_h, new_h
""",
    ),
    Mutant(
        "gru_calls_nnx",
        "gru_cell",
        "gru_cell/forbidden",
        """
def gru_cell(params, h, x):
    from flax import nnx

    cell = nnx.GRUCell(x.shape[-1], h.shape[-1], rngs=nnx.Rngs(0))
    nnx.update(cell, nnx.State(params))
    return cell(h, x)
""",
        status="forbidden",
    ),
    Mutant(
        "run_rnn_ignores_lengths",
        "run_rnn",
        "run_rnn/matches_nnx_rnn_lengths",
        f"""
def run_rnn({_RUN}):
    return _original_run_rnn(cell_fn, params, xs, carry0)
""",
    ),
    Mutant(
        "run_rnn_length_off_by_one",
        "run_rnn",
        "run_rnn/matches_nnx_rnn_lengths",
        f"""
def run_rnn({_RUN}):
    if seq_lengths is None:
        return _original_run_rnn(cell_fn, params, xs, carry0)
    n = jnp.minimum(jnp.asarray(seq_lengths) + 1, xs.shape[1])
    return _original_run_rnn(cell_fn, params, xs, carry0, seq_lengths=n)
""",
    ),
    Mutant(
        "run_rnn_padding_not_zeroed",
        "run_rnn",
        "run_rnn/padding_zero_and_length_zero",
        f"""
def run_rnn({_RUN}):
    carry, _ = _original_run_rnn(cell_fn, params, xs, carry0, seq_lengths=seq_lengths)
    _, ys = _original_run_rnn(cell_fn, params, xs, carry0)
    return carry, ys
""",
    ),
    Mutant(
        "run_rnn_carry_reset_after_end",
        "run_rnn",
        "run_rnn/matches_nnx_rnn_lengths",
        f"""
def run_rnn({_RUN}):
    xs = jnp.asarray(xs)
    b, t = xs.shape[0], xs.shape[1]
    n = jnp.full((b,), t) if seq_lengths is None else jnp.asarray(seq_lengths)

    def step(carry, inp):
        i, x_t = inp
        new, y = cell_fn(params, carry, x_t)
        ok = i < n
        sel = lambda a, z: jnp.where(ok.reshape((b,) + (1,) * (a.ndim - 1)), a, z)
        return jax.tree.map(sel, new, carry0), sel(y, jnp.zeros_like(y))

    carry, ys = jax.lax.scan(step, carry0, (jnp.arange(t), jnp.swapaxes(xs, 0, 1)))
    return carry, jnp.swapaxes(ys, 0, 1)
""",
    ),
    Mutant(
        "run_rnn_nnx_style_last_index",
        "run_rnn",
        "run_rnn/padding_zero_and_length_zero",
        f"""
def run_rnn({_RUN}):
    xs = jnp.asarray(xs)
    b, t = xs.shape[0], xs.shape[1]
    n = jnp.full((b,), t) if seq_lengths is None else jnp.asarray(seq_lengths)

    def step(carry, x_t):
        new, y = cell_fn(params, carry, x_t)
        return new, (new, y)

    _, (carries, ys) = jax.lax.scan(step, carry0, jnp.swapaxes(xs, 0, 1))
    last = jax.tree.map(lambda c: c[n - 1, jnp.arange(b)], carries)  # n = 0 reads index -1
    mask = (jnp.arange(t)[:, None] < n[None, :]).reshape((t, b) + (1,) * (ys.ndim - 2))
    return last, jnp.swapaxes(jnp.where(mask, ys, 0.0), 0, 1)
""",
    ),
    Mutant(
        "run_rnn_python_loop",
        "run_rnn",
        "run_rnn/one_scan",
        f"""
def run_rnn({_RUN}):
    xs = jnp.asarray(xs)
    b, t = xs.shape[0], xs.shape[1]
    n = jnp.full((b,), t) if seq_lengths is None else jnp.asarray(seq_lengths)
    carry, ys = carry0, []
    for i in range(t):
        new, y = cell_fn(params, carry, xs[:, i])
        ok = i < n
        sel = lambda a, z: jnp.where(ok.reshape((b,) + (1,) * (a.ndim - 1)), a, z)
        carry = jax.tree.map(sel, new, carry)
        ys.append(sel(y, jnp.zeros_like(y)))
    return carry, jnp.stack(ys, axis=1)
""",
    ),
    Mutant(
        "run_rnn_scans_batch_axis",
        "run_rnn",
        "run_rnn/matches_nnx_rnn",
        f"""
def run_rnn({_RUN}):
    def step(carry, x_t):
        return cell_fn(params, carry, x_t)

    return jax.lax.scan(step, carry0, jnp.asarray(xs))
""",
    ),
    Mutant(
        "run_rnn_scans_only_to_longest",
        "run_rnn",
        "run_rnn/jit",
        _SCAN_TO_LONGEST,
        status="error",
    ),
    Mutant(
        "run_rnn_scans_only_to_longest_vmap",
        "run_rnn",
        "run_rnn/vmap",
        _SCAN_TO_LONGEST,
        status="error",
    ),
    Mutant(
        "run_rnn_truncated_backprop",
        "run_rnn",
        "run_rnn/gradient_matches_reference",
        f"""
def run_rnn({_RUN}):
    cut = lambda p, carry, x: cell_fn(p, jax.lax.stop_gradient(carry), x)
    return _original_run_rnn(cut, params, xs, carry0, seq_lengths=seq_lengths)
""",
    ),
    Mutant(
        "run_rnn_carry_not_threaded",
        "run_rnn",
        "run_rnn/train_gru_digits",
        f"""
def run_rnn({_RUN}):
    fresh = lambda p, carry, x: cell_fn(p, carry0, x)  # every step starts from carry0
    return _original_run_rnn(fresh, params, xs, carry0, seq_lengths=seq_lengths)
""",
    ),
    Mutant(
        "run_rnn_calls_nnx",
        "run_rnn",
        "run_rnn/forbidden",
        f"""
def run_rnn({_RUN}):
    from flax import nnx

    nnx.RNN  # reaching for the upstream layer
    return _original_run_rnn(cell_fn, params, xs, carry0, seq_lengths=seq_lengths)
""",
        status="forbidden",
    ),
]

ALTERNATIVES = [
    Alternative(
        "lstm_fused_kernels",
        "lstm_cell",
        """
def lstm_cell(params, carry, x):
    c, h = carry
    wi = jnp.concatenate([params[k]["kernel"] for k in ("ii", "if_", "ig", "io")], axis=-1)
    wh = jnp.concatenate([params[k]["kernel"] for k in ("hi", "hf", "hg", "ho")], axis=-1)
    bh = jnp.concatenate([params[k]["bias"] for k in ("hi", "hf", "hg", "ho")])
    z = x @ wi + h @ wh + bh.reshape((1,) * (h.ndim - 1) + (-1,))
    zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
    new_c = jax.nn.sigmoid(zf) * c + jax.nn.sigmoid(zi) * jnp.tanh(zg)
    new_h = jax.nn.sigmoid(zo) * jnp.tanh(new_c)
    return (new_c, new_h), new_h
""",
    ),
    Alternative(
        "gru_interpolation_form",
        "gru_cell",
        _GRU_BODY.format(n="jnp.tanh(xn + r * (h @ wn))", new_h="n + z * (h - n)"),
    ),
    Alternative(
        "run_rnn_precomputed_mask",
        "run_rnn",
        f"""
def run_rnn({_RUN}):
    xs = jnp.asarray(xs)
    b, t = xs.shape[0], xs.shape[1]
    n = jnp.full((b,), t) if seq_lengths is None else jnp.asarray(seq_lengths)
    valid = jnp.arange(t)[:, None] < n[None, :]  # (T, B)

    def step(carry, inp):
        ok, x_t = inp
        new, y = cell_fn(params, carry, x_t)
        expand = lambda a: ok.reshape((b,) + (1,) * (a.ndim - 1))
        carry = jax.tree.map(lambda a, z: jax.lax.select(jnp.broadcast_to(expand(a), a.shape),
                                                         a, z), new, carry)
        return carry, y * expand(y)

    carry, ys = jax.lax.scan(step, carry0, (valid, jnp.moveaxis(xs, 1, 0)))
    return carry, jnp.moveaxis(ys, 0, 1)
""",
    ),
]
