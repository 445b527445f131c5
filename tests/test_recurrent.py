"""rnn_scan, lstm_cell, gru_cell and run_rnn pinned to flax.nnx SimpleCell/LSTMCell/GRUCell/RNN."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlcore.nn.recurrent import gru_cell, lstm_cell, rnn_scan, run_rnn

# float32 cells of O(1) values; dlcore and flax do the same matmuls (measured difference 0.0),
# 1e-5 only absorbs a different XLA fusion order.
ATOL = 1e-5
B, T, D, H = 3, 6, 4, 5


def _pure(module):
    return nnx.to_pure_dict(nnx.state(module, nnx.Param))


def _inputs(seed):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    xs = jax.random.normal(k1, (B, T, D))
    return xs, 0.5 * jax.random.normal(k2, (B, H)), 0.5 * jax.random.normal(k3, (B, H))


def _scan_ops(jaxpr):
    return [e for e in jaxpr.eqns if e.primitive.name == "scan"]


def test_rnn_scan_matches_nnx_simple_cell_and_is_one_scan():
    cell = nnx.SimpleCell(D, H, rngs=nnx.Rngs(0))
    p = _pure(cell)
    params = {
        "w_xh": p["dense_i"]["kernel"],
        "b_h": p["dense_i"]["bias"],
        "w_hh": p["dense_h"]["kernel"],
    }
    xs, h0, _ = _inputs(1)
    h_ref, hs_ref = nnx.RNN(cell, return_carry=True)(xs, initial_carry=h0)
    h_last, hs = rnn_scan(params, xs, h0)
    np.testing.assert_allclose(hs, hs_ref, atol=ATOL)
    np.testing.assert_allclose(h_last, h_ref, atol=ATOL)
    np.testing.assert_array_equal(h_last, hs[:, -1])
    sizes = []
    for steps in (8, 64):
        jaxpr = jax.make_jaxpr(rnn_scan)(params, jnp.zeros((B, steps, D)), h0).jaxpr
        (scan,) = _scan_ops(jaxpr)
        assert scan.params["length"] == steps
        sizes.append(len(jaxpr.eqns))
    assert sizes[0] == sizes[1]


def test_rnn_scan_is_causal_with_unbounded_receptive_field():
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(jax.random.key(2))
        params = {
            "w_xh": jax.random.normal(k1, (2, 3), jnp.float64),
            "w_hh": 0.5 * jax.random.normal(k2, (3, 3), jnp.float64),
            "b_h": jnp.zeros(3, jnp.float64),
        }
        xs = jax.random.normal(jax.random.key(3), (1, 7, 2), jnp.float64)
        jac = jax.jacfwd(lambda x: rnn_scan(params, x, jnp.zeros((1, 3)))[1][0])(xs)[:, :, 0]
        norms = jnp.sqrt(jnp.sum(jac**2, axis=(1, 3)))  # (t, s)
        future = jnp.triu(jnp.ones((7, 7), bool), k=1)
        assert bool(jnp.all(jnp.where(future, norms, 0.0) == 0.0))
        assert bool(jnp.all(jnp.where(future, 1.0, norms) > 0.0))


def test_cells_match_nnx_batched_and_unbatched():
    lstm = nnx.LSTMCell(D, H, rngs=nnx.Rngs(1))
    gru = nnx.GRUCell(D, H, rngs=nnx.Rngs(2))
    xs, c0, h0 = _inputs(4)
    for x, c, h in ((xs[:, 0], c0, h0), (xs[0, 0], c0[0], h0[0])):
        (c_new, h_new), y = lstm_cell(_pure(lstm), (c, h), x)
        (c_ref, h_ref), y_ref = lstm((c, h), x)
        np.testing.assert_allclose(c_new, c_ref, atol=ATOL)
        np.testing.assert_allclose(h_new, h_ref, atol=ATOL)
        np.testing.assert_allclose(y, y_ref, atol=ATOL)
        g_new, g_y = gru_cell(_pure(gru), h, x)
        g_ref, _ = gru(h, x)
        np.testing.assert_allclose(g_new, g_ref, atol=ATOL)
        np.testing.assert_array_equal(g_new, g_y)


def test_run_rnn_matches_nnx_rnn_with_and_without_lengths():
    lstm = nnx.LSTMCell(D, H, rngs=nnx.Rngs(3))
    gru = nnx.GRUCell(D, H, rngs=nnx.Rngs(4))
    xs, c0, h0 = _inputs(5)
    lengths = jnp.array([T, 1, 3])
    valid = (jnp.arange(T)[None, :] < lengths[:, None])[:, :, None]
    for cell, fn, carry0 in ((lstm, lstm_cell, (c0, h0)), (gru, gru_cell, h0)):
        rnn = nnx.RNN(cell, return_carry=True)
        carry_ref, ys_ref = rnn(xs, initial_carry=carry0)
        carry, ys = run_rnn(fn, _pure(cell), xs, carry0)
        np.testing.assert_allclose(ys, ys_ref, atol=ATOL)
        for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_ref), strict=True):
            np.testing.assert_allclose(a, b, atol=ATOL)
        carry_ref, ys_ref = rnn(xs, initial_carry=carry0, seq_lengths=lengths)
        carry, ys = jax.jit(run_rnn, static_argnums=0)(
            fn, _pure(cell), xs, carry0, seq_lengths=lengths
        )
        # nnx leaves padded outputs as they come; compare the valid steps only
        np.testing.assert_allclose(
            jnp.where(valid, ys, 0.0), jnp.where(valid, ys_ref, 0.0), atol=ATOL
        )
        np.testing.assert_array_equal(jnp.where(valid, 0.0, ys), 0.0)
        for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_ref), strict=True):
            np.testing.assert_allclose(a, b, atol=ATOL)


def test_run_rnn_length_zero_returns_carry0_and_is_one_scan():
    lstm = nnx.LSTMCell(D, H, rngs=nnx.Rngs(5))
    xs, c0, h0 = _inputs(6)
    lengths = jnp.array([0, T, 2])
    (c, h), ys = run_rnn(lstm_cell, _pure(lstm), xs, (c0, h0), seq_lengths=lengths)
    np.testing.assert_array_equal(c[0], c0[0])
    np.testing.assert_array_equal(h[0], h0[0])
    np.testing.assert_array_equal(ys[0], 0.0)
    jaxpr = jax.make_jaxpr(lambda p, x: run_rnn(lstm_cell, p, x, (c0, h0)))(_pure(lstm), xs)
    assert len(_scan_ops(jaxpr.jaxpr)) == 1


def test_run_rnn_vmap_and_gradient_match_reference():
    gru = nnx.GRUCell(D, H, rngs=nnx.Rngs(6))
    params = _pure(gru)
    xs, _, h0 = _inputs(7)
    lengths = jnp.array([T, 2, 4])

    def loss(p, x, h, n):
        return jnp.sum(run_rnn(gru_cell, p, x, h, seq_lengths=n)[1] ** 2)

    def loop_loss(p, x, h, n):  # a Python loop over examples and steps, lengths by slicing
        total = 0.0
        for b in range(B):
            hb = h[b]
            for t in range(int(n[b])):
                hb, y = gru_cell(p, hb, x[b, t])
                total = total + jnp.sum(y**2)
        return total

    g = jax.grad(loss)(params, xs, h0, lengths)
    g_ref = jax.jit(jax.grad(loop_loss), static_argnums=3)(params, xs, h0, (T, 2, 4))
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # vmap over an extra leading axis of sequences
    many = jnp.stack([xs, 2.0 * xs])
    ys = jax.vmap(lambda x: run_rnn(gru_cell, params, x, h0, seq_lengths=lengths)[1])(many)
    np.testing.assert_allclose(
        ys[1], run_rnn(gru_cell, params, 2.0 * xs, h0, seq_lengths=lengths)[1], atol=ATOL
    )


def _reach(cell_fn, params, carry0, xs):
    """||d h_T / d x_1||, through run_rnn, by forward-mode differentiation."""

    def last(x1):
        carry, ys = run_rnn(cell_fn, params, xs.at[:, 0].set(x1), carry0)
        return ys[0, -1]

    return float(jnp.linalg.norm(jax.jit(jax.jacfwd(last))(xs[:, 0])))


def test_gradient_reach_over_100_steps():
    steps, d, h = 100, 8, 32
    xs = jax.random.normal(jax.random.key(8), (1, steps, d))
    lstm = _pure(nnx.LSTMCell(d, h, rngs=nnx.Rngs(0)))
    zeros = jnp.zeros((1, h))
    assert _reach(lstm_cell, lstm, (zeros, zeros), xs) < 1e-6  # forget bias 0: measured 0.0
    lstm["hf"]["bias"] = jnp.full(h, 5.0)
    assert _reach(lstm_cell, lstm, (zeros, zeros), xs) > 1e-2  # forget bias 5: measured 0.6
    simple = _pure(nnx.SimpleCell(d, h, rngs=nnx.Rngs(0)))

    def elman(p, hh, x):
        out = jnp.tanh(
            x @ p["dense_i"]["kernel"] + p["dense_i"]["bias"][None] + hh @ p["dense_h"]["kernel"]
        )
        return out, out

    assert _reach(elman, simple, zeros, xs) < 1e-6


def test_parameter_counts():
    d, h = 7, 11
    lstm = _pure(nnx.eval_shape(lambda: nnx.LSTMCell(d, h, rngs=nnx.Rngs(0))))
    gru = _pure(nnx.eval_shape(lambda: nnx.GRUCell(d, h, rngs=nnx.Rngs(0))))
    size = lambda tree: sum(leaf.size for leaf in jax.tree.leaves(tree))  # noqa: E731
    assert size(lstm) == 4 * (d * h + h * h + h)
    assert size(gru) == 3 * (d * h + h * h) + 3 * h
