"""dlcore conv2d / pooling / dense pinned to lax.conv_general_dilated and flax.nnx pooling."""

import ast
import functools
import itertools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from dlcore.nn.conv import conv2d, conv_output_size
from dlcore.nn.linear import dense
from dlcore.nn.pooling import avg_pool, global_avg_pool, max_pool

_DN = ("NHWC", "HWIO", "NHWC")


def _lax_conv(x, w, b, stride, padding, dilation):
    y = lax.conv_general_dilated(
        x, w, (stride, stride), padding, rhs_dilation=(dilation, dilation), dimension_numbers=_DN
    )
    return y + b[None, None, None]


def _normal(rng, shape):
    return jnp.asarray(rng.standard_normal(shape), jnp.float32)


def _values_and_grads(f, *args):
    """``f(*args)`` and the gradient of ``sum(sin(f))`` w.r.t. every argument."""
    value, vjp = jax.vjp(f, *args)
    return value, vjp(jnp.cos(value))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv2d_matches_lax(stride, padding, dilation):
    rng = np.random.default_rng(stride * 10 + dilation)
    cases = []
    for kernel, size in itertools.product([2, 3], [7, 8]):
        # Rectangular on purpose: (kernel, kernel + 1) and (size, size + 1) catch swapped axes.
        x = _normal(rng, (2, size, size + 1, 3))
        w = _normal(rng, (kernel, kernel + 1, 3, 4))
        cases.append((x, w, _normal(rng, (4,))))

    @jax.jit
    def both(cases):
        ours = lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
        ref = lambda x, w, b: _lax_conv(x, w, b, stride, padding, dilation)
        return [(_values_and_grads(ours, *c), _values_and_grads(ref, *c)) for c in cases]

    for (x, w, _), (got, expected) in zip(cases, both(cases), strict=True):
        size, kernel = x.shape[1], w.shape[0]
        assert got[0].shape == expected[0].shape
        assert got[0].shape[1] == conv_output_size(size, kernel, stride, padding, dilation)
        assert got[0].shape[2] == conv_output_size(size + 1, kernel + 1, stride, padding, dilation)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-5)
        for g_ours, g_ref in zip(got[1], expected[1], strict=True):
            np.testing.assert_allclose(g_ours, g_ref, rtol=1e-4, atol=1e-4)


def test_conv2d_tuple_args_and_jit():
    rng = np.random.default_rng(0)
    x, w, b = _normal(rng, (1, 9, 6, 2)), _normal(rng, (3, 2, 2, 5)), _normal(rng, (5,))
    f = jax.jit(conv2d, static_argnames=("stride", "padding", "dilation"))
    got = f(x, w, b, stride=(2, 1), padding="SAME", dilation=(1, 2))
    expected = (
        lax.conv_general_dilated(x, w, (2, 1), "SAME", rhs_dilation=(1, 2), dimension_numbers=_DN)
        + b[None, None, None]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_translation_equivariance():
    rng = np.random.default_rng(1)
    x, w, b = _normal(rng, (1, 10, 10, 2)), _normal(rng, (3, 3, 2, 3)), _normal(rng, (3,))
    full = conv2d(x, w, b)
    shifted = conv2d(x[:, 2:, 1:], w, b)
    np.testing.assert_allclose(shifted, full[:, 2:, 1:], rtol=1e-6, atol=1e-6)


def test_conv2d_rejects_bad_padding():
    x, w, b = jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1)), jnp.zeros(1)
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, w, b, padding="same-ish")
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(4, 3, 1, "FULL")


def test_conv_output_size_examples():
    assert conv_output_size(8, 3, 1, "VALID") == 6
    assert conv_output_size(8, 3, 2, "SAME") == 4
    assert conv_output_size(7, 3, 2, "VALID", dilation=2) == 2
    assert conv_output_size(2, 3, 1, "VALID") == 0


_POOL_CASES = list(itertools.product([2, 3, (2, 3)], [1, 2, (2, 1)], ["SAME", "VALID"]))


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("ours,ref", [(max_pool, nnx.max_pool), (avg_pool, nnx.avg_pool)])
def test_pool_matches_flax(ours, ref):
    rng = np.random.default_rng(2)
    x = _normal(rng, (2, 7, 8, 3))

    @jax.jit
    def both(x):
        out = []
        for window, stride, padding in _POOL_CASES:
            f_ours = functools.partial(ours, window=window, stride=stride, padding=padding)
            f_ref = functools.partial(
                ref, window_shape=_pair(window), strides=_pair(stride), padding=padding
            )
            out.append((_values_and_grads(f_ours, x), _values_and_grads(f_ref, x)))
        return out

    for case, (got, expected) in zip(_POOL_CASES, both(x), strict=True):
        assert got[0].shape == expected[0].shape, case
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-6, err_msg=str(case))
        np.testing.assert_allclose(got[1][0], expected[1][0], rtol=1e-5, atol=1e-6)


def test_max_pool_gradient_only_to_max():
    # A permutation of 0..n-1 has no ties, so each 2x2 window has one argmax.
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.permutation(2 * 6 * 6 * 3).reshape(2, 6, 6, 3), jnp.float32)
    grad = jax.grad(lambda x: jnp.sum(max_pool(x, 2, 2)))(x)
    windows = np.asarray(grad).reshape(2, 3, 2, 3, 2, 3)
    assert set(np.unique(windows)) <= {0.0, 1.0}
    np.testing.assert_array_equal(windows.sum(axis=(2, 4)), np.ones((2, 3, 3, 3)))
    xs = np.asarray(x).reshape(2, 3, 2, 3, 2, 3)
    is_max = xs == xs.max(axis=(2, 4), keepdims=True)
    np.testing.assert_array_equal(windows == 1.0, is_max)


def test_max_pool_same_pads_with_minus_inf():
    x = -jnp.ones((1, 3, 3, 1))
    assert bool(jnp.all(max_pool(x, 2, 2, "SAME") == -1.0))


def test_global_avg_pool_and_dense():
    rng = np.random.default_rng(4)
    x = _normal(rng, (2, 5, 4, 3))
    np.testing.assert_allclose(global_avg_pool(x), np.mean(np.asarray(x), axis=(1, 2)), 1e-6)
    h, w, b = _normal(rng, (2, 5, 6)), _normal(rng, (6, 3)), _normal(rng, (3,))
    linear = nnx.Linear(6, 3, rngs=nnx.Rngs(0))
    linear.kernel[...] = w
    linear.bias[...] = b
    np.testing.assert_allclose(dense(h, w, b), linear(h), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["conv.py", "pooling.py", "linear.py"])
def test_no_forbidden_calls(name):
    source = pathlib.Path(__file__).parents[1] / "dlcore" / "nn" / name
    names = {
        node.attr if isinstance(node, ast.Attribute) else node.id
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute | ast.Name)
    }
    forbidden = {"conv", "conv_general_dilated", "reduce_window", "signal", "nnx", "flax"}
    assert not names & forbidden
