"""The dlcore NNX modules equal the functional core (and the matching flax.nnx layers)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dlcore.nn.attention import multi_head_attention
from dlcore.nn.conv import conv2d
from dlcore.nn.dropout import dropout
from dlcore.nn.modules import AvgPool, Conv2D, Dropout, MaxPool, MultiHeadAttention
from dlcore.nn.pooling import avg_pool, max_pool


def test_dropout_module_keys():
    x = jax.random.normal(jax.random.key(0), (6, 5))
    # Construction-time stream: the module forks rngs.dropout, so a twin fork gives its keys.
    layer = Dropout(0.5, rngs=nnx.Rngs(dropout=1))
    twin = nnx.Rngs(dropout=1).dropout.fork()
    np.testing.assert_array_equal(layer(x), dropout(twin(), x, 0.5))
    np.testing.assert_array_equal(layer(x), dropout(twin(), x, 0.5))
    # Call-time Rngs and raw keys.
    np.testing.assert_array_equal(
        layer(x, rngs=nnx.Rngs(dropout=2)), dropout(nnx.Rngs(dropout=2).dropout(), x, 0.5)
    )
    key = jax.random.key(3)
    expected = nnx.Dropout(0.5)(x, deterministic=False, rngs=key)
    np.testing.assert_array_equal(layer(x, rngs=key), expected)
    np.testing.assert_array_equal(layer(x, deterministic=True), x)
    with pytest.raises(ValueError, match="rngs"):
        Dropout(0.5, rngs=None)(x)
    np.testing.assert_array_equal(Dropout(1.0, rngs=None)(x), jnp.zeros_like(x))


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv2d_module(padding):
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))
    layer = Conv2D(3, 4, (3, 2), stride=2, padding=padding, rngs=nnx.Rngs(0))
    assert layer.kernel[...].shape == (3, 2, 3, 4) and layer.bias[...].shape == (4,)
    layer.bias[...] = jnp.arange(4.0)
    expected = conv2d(x, layer.kernel[...], layer.bias[...], stride=2, padding=padding)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    flax_conv = nnx.Conv(3, 4, (3, 2), strides=2, padding=padding, rngs=nnx.Rngs(1))
    flax_conv.kernel[...] = layer.kernel[...]
    flax_conv.bias[...] = layer.bias[...]
    np.testing.assert_allclose(layer(x), flax_conv(x), rtol=1e-5, atol=1e-5)


def test_pool_modules():
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    np.testing.assert_array_equal(MaxPool(3, 2, "SAME")(x), max_pool(x, 3, 2, "SAME"))
    np.testing.assert_array_equal(AvgPool(2, 1)(x), avg_pool(x, 2, 1))


def test_mha_module_layout_and_values():
    layer = MultiHeadAttention(2, 8, rngs=nnx.Rngs(0))
    params = nnx.to_pure_dict(nnx.state(layer, nnx.Param))
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {
        "query": {"kernel": (8, 2, 4), "bias": (2, 4)},
        "key": {"kernel": (8, 2, 4), "bias": (2, 4)},
        "value": {"kernel": (8, 2, 4), "bias": (2, 4)},
        "out": {"kernel": (2, 4, 8), "bias": (8,)},
    }
    x = jax.random.normal(jax.random.key(1), (3, 5, 8))
    mask = jnp.tril(jnp.ones((5, 5), bool))[None, None]
    expected = multi_head_attention(params, x, num_heads=2, mask=mask)
    np.testing.assert_allclose(layer(x, mask=mask), expected, rtol=1e-6)
    reference = nnx.MultiHeadAttention(2, 8, decode=False, rngs=nnx.Rngs(2))
    nnx.update(reference, nnx.state(layer, nnx.Param))
    np.testing.assert_allclose(layer(x, mask=mask), reference(x, mask=mask), rtol=1e-5, atol=1e-5)


def test_modules_split_merge_jit():
    layer = Conv2D(1, 2, 3, padding="SAME", rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(layer)
    x = jnp.ones((1, 4, 4, 1))
    out = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, x)
    np.testing.assert_allclose(out, layer(x), rtol=1e-6)
