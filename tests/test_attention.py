"""dlcore attention pinned to jax.nn.dot_product_attention, flax.nnx and NumPy."""

import ast
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dlcore.nn.attention import (
    bahdanau_attention,
    luong_attention,
    multi_head_attention,
    scaled_dot_product_attention,
)


def _normal(rng, shape, scale=1.0):
    return jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)


def _qkv(rng, b=2, t=5, s=5, n=3, h=4):
    return _normal(rng, (b, t, n, h)), _normal(rng, (b, s, n, h)), _normal(rng, (b, s, n, h))


def _random_mask(rng, shape):
    mask = rng.random(shape) < 0.6
    mask[..., 0] = True  # every query keeps a key: fully masked rows are not graded
    return jnp.asarray(mask)


# (T, S, mask shape or None, is_causal); masks use every broadcastable rank-4 form.
_SDPA_CASES = [
    (5, 5, None, False),
    (5, 5, None, True),
    (3, 7, None, True),
    (7, 3, None, True),
    (4, 6, (2, 3, 4, 6), False),
    (4, 6, (2, 1, 4, 6), True),
    (6, 4, (1, 1, 6, 4), True),
    (5, 5, (1, 3, 1, 5), False),
]


def test_sdpa_matches_jax_nn():
    rng = np.random.default_rng(0)
    cases = []
    for t, s, mask_shape, _ in _SDPA_CASES:
        mask = None if mask_shape is None else _random_mask(rng, mask_shape)
        cases.append((_qkv(rng, t=t, s=s), mask))

    @jax.jit
    def both(cases):
        out = []
        for (qkv, mask), (*_, is_causal) in zip(cases, _SDPA_CASES, strict=True):
            pair = []
            for f in (scaled_dot_product_attention, jax.nn.dot_product_attention):
                value, vjp = jax.vjp(functools.partial(f, mask=mask, is_causal=is_causal), *qkv)
                pair.append((value, vjp(jnp.cos(value))))
            out.append(pair)
        return out

    for case, (got, expected) in zip(_SDPA_CASES, both(cases), strict=True):
        assert got[0].shape == expected[0].shape, case
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-5, err_msg=str(case))
        for g_ours, g_ref in zip(got[1], expected[1], strict=True):
            np.testing.assert_allclose(g_ours, g_ref, rtol=1e-4, atol=1e-5, err_msg=str(case))


def _weights(q, k, **kwargs):
    """Attention weights (B, N, T, S), read off by attending over one-hot values (H == S)."""
    s = k.shape[1]
    v = jnp.broadcast_to(jnp.eye(s)[None, :, None, :], k.shape)
    return jnp.transpose(scaled_dot_product_attention(q, k, v, **kwargs), (0, 2, 1, 3))


def test_sdpa_weights_sum_to_one_masked_exactly_zero_and_causal():
    rng = np.random.default_rng(1)
    q, k, _ = _qkv(rng, t=4, s=6, h=6)
    mask = _random_mask(rng, (2, 3, 4, 6))
    w = _weights(q, k, mask=mask, is_causal=True)
    np.testing.assert_allclose(jnp.sum(w, axis=-1), 1.0, rtol=1e-6)
    allowed = np.asarray(mask) & np.tril(np.ones((4, 6), bool))
    assert np.all(np.asarray(w)[~allowed] == 0.0)
    assert np.all(np.asarray(w)[allowed] > 0.0)


def test_sdpa_finite_at_large_logits():
    rng = np.random.default_rng(2)
    q, k, v = _qkv(rng, h=4)
    q, k = q * 100.0, k * 100.0  # logits ~ 1e4
    mask = _random_mask(rng, (2, 3, 5, 5))
    f = lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask, is_causal=True)
    out, grads = jax.value_and_grad(lambda *a: jnp.sum(f(*a)), argnums=(0, 1, 2))(q, k, v)
    assert bool(jnp.isfinite(out)) and all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    fully_masked = jnp.zeros((1, 1, 5, 5), bool)
    assert bool(jnp.all(jnp.isfinite(scaled_dot_product_attention(q, k, v, mask=fully_masked))))


def test_causal_output_ignores_later_positions():
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, t=6, s=6)
    out = scaled_dot_product_attention(q, k, v, is_causal=True)
    k2, v2 = k.at[:, 3:].add(5.0), v.at[:, 3:].add(5.0)
    out2 = scaled_dot_product_attention(q, k2, v2, is_causal=True)
    np.testing.assert_allclose(out[:, :3], out2[:, :3], rtol=1e-6, atol=1e-6)
    assert not np.allclose(out[:, 3:], out2[:, 3:])


def _mha_params(rng, d=8, n=2):
    h = d // n
    params = {
        name: {"kernel": _normal(rng, (d, n, h), 0.5), "bias": _normal(rng, (n, h), 0.1)}
        for name in ("query", "key", "value")
    }
    params["out"] = {"kernel": _normal(rng, (n, h, d), 0.5), "bias": _normal(rng, (d,), 0.1)}
    return params


def _load_into_nnx(module, params):
    for name, leaves in params.items():
        layer = getattr(module, name)
        layer.kernel[...] = leaves["kernel"]
        layer.bias[...] = leaves["bias"]


@pytest.mark.parametrize("use_mask", [False, True])
def test_mha_matches_flax_nnx(use_mask):
    rng = np.random.default_rng(4)
    params = _mha_params(rng)
    x = _normal(rng, (3, 5, 8))
    mask = _random_mask(rng, (3, 2, 5, 5)) if use_mask else None
    reference = nnx.MultiHeadAttention(2, 8, decode=False, rngs=nnx.Rngs(0))
    _load_into_nnx(reference, params)
    expected = reference(x, mask=mask)
    got = multi_head_attention(params, x, num_heads=2, mask=mask)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mha_permutation_equivariant_and_checks_heads():
    rng = np.random.default_rng(5)
    params = _mha_params(rng)
    x = _normal(rng, (2, 6, 8))
    perm = rng.permutation(6)
    out = multi_head_attention(params, x, num_heads=2)
    permuted = multi_head_attention(params, x[:, perm], num_heads=2)
    np.testing.assert_allclose(permuted, out[:, perm], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="num_heads"):
        multi_head_attention(params, x, num_heads=4)


def _np_attend(scores, keys, mask):
    scores = np.where(mask, scores, -np.inf) if mask is not None else scores
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return np.einsum("bs,bsd->bd", w, keys), w


def test_bahdanau_and_luong_match_numpy():
    rng = np.random.default_rng(6)
    b, s, dq, dk, a = 3, 7, 5, 4, 6
    query, keys = rng.standard_normal((b, dq)), rng.standard_normal((b, s, dk))
    query_dot = rng.standard_normal((b, dk))
    p_add = {
        "w_query": rng.standard_normal((dq, a)),
        "w_key": rng.standard_normal((dk, a)),
        "v": rng.standard_normal(a),
    }
    p_gen = {"w": rng.standard_normal((dq, dk))}
    mask = np.asarray(_random_mask(rng, (b, s)))
    f32 = lambda t: jax.tree.map(lambda z: jnp.asarray(z, jnp.float32), t)
    for m in (None, mask):
        scores = np.tanh((query @ p_add["w_query"])[:, None] + keys @ p_add["w_key"]) @ p_add["v"]
        cases = [
            (bahdanau_attention(f32(p_add), f32(query), f32(keys), mask=m), scores),
            (
                luong_attention(None, f32(query_dot), f32(keys), mask=m),
                np.einsum("bd,bsd->bs", query_dot, keys),
            ),
            (
                luong_attention(f32(p_gen), f32(query), f32(keys), score="general", mask=m),
                np.einsum("bq,qk,bsk->bs", query, p_gen["w"], keys),
            ),
        ]
        for (context, weights), np_scores in cases:
            np_context, np_weights = _np_attend(np_scores, keys, m)
            assert context.shape == (b, dk) and weights.shape == (b, s)
            np.testing.assert_allclose(weights, np_weights, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(context, np_context, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(jnp.sum(weights, axis=-1), 1.0, rtol=1e-6)
            if m is not None:
                assert np.all(np.asarray(weights)[~m] == 0.0)


def test_luong_errors_and_large_scores():
    keys = jnp.ones((1, 3, 2))
    with pytest.raises(ValueError, match="score"):
        luong_attention(None, jnp.ones((1, 2)), keys, score="concat")
    with pytest.raises(ValueError, match="Dq == Dk"):
        luong_attention(None, jnp.ones((1, 5)), keys)
    context, weights = luong_attention(None, jnp.array([[1e4, -1e4]]), jnp.eye(2)[None])
    assert bool(jnp.all(jnp.isfinite(context))) and float(weights[0, 0]) == 1.0


def test_no_forbidden_calls():
    source = pathlib.Path(__file__).parents[1] / "dlcore" / "nn" / "attention.py"
    tree = ast.parse(source.read_text())
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "dot_product_attention" not in names and "nn" not in names
    assert not any(
        isinstance(n, ast.Import | ast.ImportFrom) and "flax" in ast.dump(n) for n in ast.walk(tree)
    )
