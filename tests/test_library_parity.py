"""dlcore next to its upstream twins on the edges and options a practitioner reaches for.

Optimizers against optax eagerly and under jit, complex params, RMSprop's options, Adam's
mu_dtype/eps_root/nesterov; empty softmax and empty convolution/pooling outputs against
jax.nn, lax and flax; the Linear, MultiHeadAttention and Dropout modules against flax.nnx.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.nnx.nn import attention as flax_attention
from jax import lax

from dlcore.nn.activations import log_softmax, softmax
from dlcore.nn.attention import (
    dot_product_attention_weights,
    multi_head_attention,
    scaled_dot_product_attention,
)
from dlcore.nn.conv import conv2d
from dlcore.nn.dropout import broadcast_dropout, dropout
from dlcore.nn.modules import Conv2D, Dropout, Linear, MultiHeadAttention
from dlcore.nn.pooling import avg_pool, max_pool
from dlcore.optim import adagrad, adam, rmsprop, scale_by_adam, sgd


def normal(seed, shape):
    """float32 standard-normal test data from NumPy (no XLA compile per shape)."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def coin(seed, p, shape):
    """A bool array, True with probability ``p``, from NumPy."""
    return jnp.asarray(np.random.default_rng(seed).random(shape) < p)


# ---- optimizers ------------------------------------------------------------------------


def _gradients(dtype=jnp.float32, steps=8):
    """A fixed sequence of nested gradient pytrees, complex when ``dtype`` is."""
    out = []
    for i in range(steps):
        g = {"w": normal(2 * i, (3, 2)), "b": (normal(2 * i + 1, (2,)),)}
        if jnp.issubdtype(dtype, jnp.complexfloating):
            g = jax.tree.map(lambda x: (x + 1j * x[::-1] ** 2).astype(dtype), g)
        out.append(g)
    return out


def _run(tx, grads, jit):
    """The updates of every step, from a zero state; ``jit`` compiles update once."""
    params = jax.tree.map(jnp.zeros_like, grads[0])
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    out = []
    for g in grads:
        u, state = update(g, state, params)
        out.append(u)
    return out, state


def _assert_equal(got, want):
    """Bitwise equal pytrees of the same structure and dtypes."""
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


PAIRS = {
    "sgd_momentum": (lambda: sgd(0.1, 0.9), lambda: optax.sgd(0.1, 0.9)),
    "sgd_nesterov": (lambda: sgd(0.1, 0.8, True), lambda: optax.sgd(0.1, 0.8, True)),
    "rmsprop": (lambda: rmsprop(0.1), lambda: optax.rmsprop(0.1)),
    "adagrad": (lambda: adagrad(0.1), lambda: optax.adagrad(0.1)),
    "adam": (lambda: adam(0.1), lambda: optax.adam(0.1)),
    "adam_custom": (lambda: adam(0.1, 0.8, 0.95, 1e-6), lambda: optax.adam(0.1, 0.8, 0.95, 1e-6)),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_optimizers_equal_optax_eagerly_and_under_jit(name):
    # Bitwise, eager against eager and jitted against jitted: eager Adam used to take an
    # integer power of the concrete count (exact repeated multiplication) where optax's
    # jitted bias correction takes lax.pow, about 1e-6 relative apart after a few steps.
    ours, theirs = PAIRS[name]
    grads = _gradients()
    for jit in (False, True):
        _assert_equal(_run(ours(), grads, jit)[0], _run(theirs(), grads, jit)[0])


COMPLEX = {
    **PAIRS,
    "rmsprop_centered_momentum": (
        lambda: rmsprop(0.1, centered=True, momentum=0.9),
        lambda: optax.rmsprop(0.1, centered=True, momentum=0.9),
    ),
    "adam_nesterov": (lambda: adam(0.1, nesterov=True), lambda: optax.nadam(0.1)),
}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_params_follow_optax(name):
    # optax accumulates |g|^2 = Re(conj(g) g) for complex gradients; g**2 (the complex
    # square) would leave it at the first step. Same ops in the same order: bitwise.
    ours, theirs = COMPLEX[name]
    grads = _gradients(jnp.complex64)
    got, state = _run(ours(), grads, jit=True)
    want, _ = _run(theirs(), grads, jit=True)
    _assert_equal(got, want)
    assert all(leaf.dtype in (jnp.complex64, jnp.int32) for leaf in jax.tree.leaves(state))


def test_adam_on_a_complex_least_squares_problem_converges():
    # min |A z - y|^2 over complex z; the gradient optax and dlcore expect is conj(dL/dz).
    a = normal(1, (6, 3)) + 1j * normal(2, (6, 3))
    z_true = jnp.array([1.0 - 2.0j, 0.5j, -1.0])
    y = a @ z_true

    def fit(tx):
        def step(carry, _):
            z, state = carry
            g = jnp.conj(jax.grad(lambda z: jnp.sum(jnp.abs(a @ z - y) ** 2))(z))
            u, state = tx.update(g, state)
            return (z + u, state), None

        z0 = jnp.zeros(3, jnp.complex64)
        return jax.lax.scan(step, (z0, tx.init(z0)), length=1000)[0][0]

    lr = optax.cosine_decay_schedule(0.1, 1000)
    ours, theirs = jax.jit(lambda: (fit(adam(lr)), fit(optax.adam(lr))))()
    np.testing.assert_array_equal(ours, theirs)
    # From |z0 - z_true| ~ 2.3 to 1e-6 (measured) as the schedule shrinks Adam's steps;
    # without the conj (or with g**2 in the second moment) it wanders off instead.
    np.testing.assert_allclose(ours, z_true, atol=1e-4)


def _trajectory(tx, steps=60):
    """Params on a nested ill-conditioned quadratic after every step (one lax.scan)."""
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": (jnp.array([[0.3, -1.0]]),)}

    def loss(p):
        leaves = jax.tree.leaves(p)
        return sum(jnp.sum((i + 1.0) * (x - 0.7) ** 2) for i, x in enumerate(leaves))

    def step(carry, _):
        p, state = carry
        u, state = tx.update(jax.grad(loss)(p), state, p)
        p = optax.apply_updates(p, u)
        return (p, state), p

    return jax.lax.scan(step, (params, tx.init(params)), length=steps)[1]


SCHEDULE = optax.warmup_cosine_decay_schedule(0.0, 0.05, 10, 60)
OPTIONS = {
    "rmsprop_centered": ({"centered": True}, {"centered": True}),
    "rmsprop_momentum": ({"momentum": 0.9}, {"momentum": 0.9}),
    "rmsprop_nesterov": ({"momentum": 0.8, "nesterov": True}, {"momentum": 0.8, "nesterov": True}),
    "rmsprop_all": (
        {"centered": True, "momentum": 0.5, "initial_scale": 0.1, "eps_in_sqrt": False},
        {"centered": True, "momentum": 0.5, "initial_scale": 0.1, "eps_in_sqrt": False},
    ),
}


@pytest.mark.parametrize("learning_rate", [0.01, SCHEDULE], ids=["constant", "schedule"])
@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_rmsprop_options_match_optax(name, learning_rate):
    ours, theirs = OPTIONS[name]
    got, want = jax.jit(
        lambda: (
            _trajectory(rmsprop(learning_rate, 0.9, 1e-6, **ours)),
            _trajectory(optax.rmsprop(learning_rate, 0.9, 1e-6, **theirs)),
        )
    )()
    # Same ops in the same order as optax: equal to float32 rounding (bitwise in practice).
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7), got, want)
    assert not np.allclose(got["a"][-1], got["a"][0])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda lr: adam(lr, eps_root=1e-8), lambda lr: optax.adam(lr, eps_root=1e-8)),
        (lambda lr: adam(lr, nesterov=True), lambda lr: optax.nadam(lr)),
        (lambda lr: adagrad(lr), lambda lr: optax.adagrad(lr)),
        (
            lambda lr: sgd(lr, 0.9, accumulator_dtype=jnp.bfloat16),
            lambda lr: optax.sgd(lr, 0.9, accumulator_dtype=jnp.bfloat16),
        ),
    ],
    ids=["adam_eps_root", "nadam", "adagrad", "sgd_bf16_trace"],
)
def test_adam_options_and_schedules_match_optax(ours, theirs):
    got, want = jax.jit(lambda: (_trajectory(ours(SCHEDULE)), _trajectory(theirs(SCHEDULE))))()
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7), got, want)


def test_adam_mu_dtype_matches_optax():
    grads = _gradients()
    got, state = _run(adam(0.1, mu_dtype=jnp.bfloat16), grads, jit=True)
    want, want_state = _run(optax.adam(0.1, mu_dtype=jnp.bfloat16), grads, jit=True)
    _assert_equal(got, want)
    assert all(m.dtype == jnp.bfloat16 for m in jax.tree.leaves(state[0].mu))
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(state[0].nu))
    _assert_equal(list(state[0]), list(want_state[0]))
    # Storing mu in bfloat16 really changes the trajectory (the option is not ignored).
    full, _ = _run(scale_by_adam(), grads, jit=True)
    half, _ = _run(scale_by_adam(mu_dtype=jnp.bfloat16), grads, jit=True)
    assert not np.array_equal(full[-1]["w"], half[-1]["w"])


# ---- activations, convolution, pooling -------------------------------------------------

EMPTY = [((0,), -1), ((3, 0), -1), ((0, 4), -1), ((0, 4), 0), ((2, 0, 3), (0, 1)), ((2, 0, 3), 2)]


@pytest.mark.parametrize("shape, axis", EMPTY)
def test_softmax_of_empty_arrays_is_empty_like_jax_nn(shape, axis):
    x = jnp.zeros(shape)
    for ours, theirs in ((softmax, jax.nn.softmax), (log_softmax, jax.nn.log_softmax)):
        got = jax.jit(ours, static_argnums=1)(x, axis)
        want = theirs(x, axis)
        assert got.shape == want.shape == shape and got.dtype == want.dtype
        assert ours(x, axis).shape == shape


def test_softmax_nonempty_unchanged_by_the_empty_fix():
    x = 30 * normal(0, (4, 7))
    np.testing.assert_allclose(softmax(x), jax.nn.softmax(x), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(log_softmax(x), jax.nn.log_softmax(x), rtol=1e-6, atol=1e-5)


# (H, W), kernel, stride, padding: every case has an output axis of length 0.
ZERO_OUT = [
    ((2, 2), 3, 2, "VALID"),
    ((2, 6), 3, 2, "VALID"),
    ((1, 1), 2, 3, "VALID"),
    ((3, 3), 4, 1, "VALID"),
    ((0, 4), 1, 2, "SAME"),
    ((0, 5), 3, (2, 3), "VALID"),
]


@pytest.mark.parametrize("hw, k, stride, padding", ZERO_OUT)
def test_zero_size_outputs_are_empty_like_lax_and_flax(hw, k, stride, padding):
    x = jnp.ones((2, *hw, 3))
    w = jnp.ones((k, k, 3, 4))
    s = stride if isinstance(stride, tuple) else (stride, stride)
    want = lax.conv_general_dilated(x, w, s, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    got = conv2d(x, w, jnp.zeros(4), stride=stride, padding=padding)
    assert got.shape == want.shape and 0 in got.shape
    assert max_pool(x, k, stride, padding).shape == nnx.max_pool(x, (k, k), s, padding).shape
    assert avg_pool(x, k, stride, padding).shape == nnx.avg_pool(x, (k, k), s, padding).shape


# ---- modules ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False])
def test_linear_equals_flax_linear(use_bias):
    x = normal(0, (2, 5, 3))
    ours = Linear(3, 4, use_bias=use_bias, rngs=nnx.Rngs(7))
    theirs = nnx.Linear(3, 4, use_bias=use_bias, rngs=nnx.Rngs(7))
    # Same initializers drawn from the same keys in the same order: the same weights.
    _assert_equal(nnx.state(ours, nnx.Param), nnx.state(theirs, nnx.Param))
    if use_bias:
        ours.bias[...] = jnp.arange(4.0)
        theirs.bias[...] = jnp.arange(4.0)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6, atol=1e-7)
    half = Linear(3, 4, dtype=jnp.bfloat16, rngs=nnx.Rngs(7))
    half_ref = nnx.Linear(3, 4, dtype=jnp.bfloat16, rngs=nnx.Rngs(7))
    assert half(x).dtype == half_ref(x).dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.float32(half(x)), np.float32(half_ref(x)), rtol=1e-2, atol=1e-2
    )  # bfloat16: 8 mantissa bits


def _flax_twin(layer, **kwargs):
    """A flax.nnx.MultiHeadAttention with ``layer``'s weights."""
    make = lambda: nnx.MultiHeadAttention(decode=False, rngs=nnx.Rngs(0, dropout=1), **kwargs)
    # Without dropout the twin holds only Params, all overwritten: build it abstractly
    # (no initializer compiled per shape) and fill it.
    reference = make() if kwargs.get("dropout_rate", 0) else nnx.eval_shape(make)
    nnx.update(reference, nnx.state(layer, nnx.Param))
    return reference


def test_mha_cross_attention_uneven_width_and_causal_match_flax():
    q_in = normal(0, (2, 4, 5))
    kv_in = normal(1, (2, 6, 7))
    v_in = normal(2, (2, 6, 7))
    # in_features=5 is not a multiple of 3 heads: only qkv_features=6 has to be.
    sizes = {"num_heads": 3, "in_features": 5, "qkv_features": 6, "in_kv_features": 7}
    layer = MultiHeadAttention(**sizes, out_features=2, rngs=nnx.Rngs(3))
    reference = _flax_twin(layer, **sizes, out_features=2)
    self_layer = MultiHeadAttention(3, 5, 6, causal=True, rngs=nnx.Rngs(4))
    self_ref = _flax_twin(self_layer, num_heads=3, in_features=5, qkv_features=6)
    causal = nnx.make_causal_mask(jnp.ones((2, 4)))  # flax: a mask only, no flag

    @nnx.jit  # one compilation instead of one per eager op
    def outputs(layer, reference, self_layer, self_ref):
        return {
            "cross": (layer(q_in, kv_in, v_in), reference(q_in, kv_in, v_in)),
            "cross_kv": (layer(q_in, kv_in), reference(q_in, kv_in)),
            "causal": (self_layer(q_in), self_ref(q_in, mask=causal)),
            "flag_is_mask": (self_layer(q_in), self_layer(q_in, causal=False, mask=causal != 0)),
        }

    out = outputs(layer, reference, self_layer, self_ref)
    for name, (got, want) in out.items():
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="qkv_features"):
        MultiHeadAttention(3, 5, rngs=nnx.Rngs(0))


def test_mha_self_attention_is_the_functional_core_bitwise():
    x = normal(0, (2, 5, 8))
    layer = MultiHeadAttention(2, 8, rngs=nnx.Rngs(0))
    no_bias = MultiHeadAttention(2, 8, use_bias=False, rngs=nnx.Rngs(0))
    assert no_bias.query.bias is None
    no_bias_ref = _flax_twin(no_bias, num_heads=2, in_features=8, use_bias=False)
    mask = jnp.logical_or(
        coin(1, 0.7, (2, 1, 5, 5)),
        jnp.eye(5, dtype=bool)[None, None],
    )

    @nnx.jit
    def outputs(layer, no_bias, no_bias_ref):
        functional = multi_head_attention(layer.params(), x, num_heads=2, mask=mask)
        return layer(x, mask=mask), functional, no_bias(x), no_bias_ref(x)

    got, functional, no_bias_out, no_bias_want = outputs(layer, no_bias, no_bias_ref)
    np.testing.assert_array_equal(got, functional)
    np.testing.assert_allclose(no_bias_out, no_bias_want, rtol=1e-5, atol=1e-6)


def test_mha_attention_dropout_matches_flax_and_views():
    x = normal(0, (2, 5, 8))
    layer = MultiHeadAttention(2, 8, dropout_rate=0.3, rngs=nnx.Rngs(0, dropout=1))
    reference = _flax_twin(layer, num_heads=2, in_features=8, dropout_rate=0.3)
    unshared = MultiHeadAttention(
        2, 8, dropout_rate=0.3, broadcast_dropout=False, rngs=nnx.Rngs(0, dropout=1)
    )
    unshared_ref = _flax_twin(
        unshared, num_heads=2, in_features=8, dropout_rate=0.3, broadcast_dropout=False
    )

    @nnx.jit
    def outputs(layer, reference, unshared, unshared_ref):
        return {
            "stored stream": (layer(x), reference(x, deterministic=False)),
            # Call-time Rngs win over the stored stream, in both.
            "call-time rngs": (
                layer(x, rngs=nnx.Rngs(dropout=5)),
                reference(x, deterministic=False, rngs=nnx.Rngs(dropout=5)),
            ),
            "unshared mask": (unshared(x), unshared_ref(x, deterministic=False)),
            "no dropout": (layer(x, deterministic=True), layer(x, deterministic=True)),
        }

    # The same forked dropout stream, the same (1, 1, T, S) mask shared by batch and heads;
    # flax multiplies by keep / p where dlcore divides by p: a rounding apart. Twice: the
    # streams advance together.
    first = outputs(layer, reference, unshared, unshared_ref)
    second = outputs(layer, reference, unshared, unshared_ref)
    for out in (first, second):
        for name, (got, want) in out.items():
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)
    assert not np.allclose(first["stored stream"][0], second["stored stream"][0])
    assert not np.allclose(first["stored stream"][0], first["no dropout"][0])
    evaluation = nnx.view(layer, deterministic=True)
    np.testing.assert_allclose(
        evaluation(x), multi_head_attention(layer.params(), x, num_heads=2), rtol=1e-6
    )
    assert layer.deterministic is False  # view returns a copy; the training model is intact


def test_mha_dtype_and_param_dtype_like_flax():
    x = normal(0, (2, 5, 8))
    layer = MultiHeadAttention(2, 8, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    reference = _flax_twin(layer, num_heads=2, in_features=8, dtype=jnp.bfloat16)
    got, want = nnx.jit(lambda a, b: (a(x), b(x)))(layer, reference)
    assert got.dtype == want.dtype == jnp.bfloat16
    assert layer.query.kernel[...].dtype == jnp.float32
    # bfloat16 inputs and weights (8 mantissa bits); flax also scales q in bfloat16.
    np.testing.assert_allclose(np.float32(got), np.float32(want), rtol=5e-2, atol=5e-2)
    stored = nnx.eval_shape(
        lambda: MultiHeadAttention(2, 8, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    )
    dtypes = {p.dtype for p in jax.tree.leaves(nnx.state(stored, nnx.Param))}
    assert dtypes == {jnp.dtype(jnp.bfloat16)}


def test_attention_weights_match_flax_and_sdpa():
    q = normal(0, (2, 4, 3, 5))
    k = normal(1, (2, 6, 3, 5))
    v = normal(2, (2, 6, 3, 5))
    mask = coin(3, 0.7, (2, 1, 4, 6)).at[..., 0].set(True)
    options = {"plain": {}, "mask": {"mask": mask}, "causal": {"is_causal": True}}

    @jax.jit
    def outputs(q, k, v):
        out = {}
        for name, kwargs in options.items():
            got = dot_product_attention_weights(q, k, **kwargs)
            want = flax_attention.dot_product_attention_weights(q, k, **kwargs)
            sdpa = scaled_dot_product_attention(q, k, v, **kwargs)
            out[name] = (got, want, jnp.einsum("bnts,bsnh->btnh", got, v), sdpa)
        return out

    for name, (got, want, attended, sdpa) in outputs(q, k, v).items():
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(attended, sdpa, rtol=1e-6, atol=1e-6, err_msg=name)


def test_dropout_module_deterministic_attribute_view_and_broadcast_dims():
    x = normal(0, (4, 3, 5))
    evaluation = Dropout(0.5, deterministic=True, rngs=nnx.Rngs(dropout=0))
    np.testing.assert_array_equal(evaluation(x), x)
    assert not np.array_equal(evaluation(x, deterministic=False), x)  # the call wins
    layer = Dropout(0.5, rngs=nnx.Rngs(dropout=0))
    np.testing.assert_array_equal(nnx.view(layer, deterministic=True)(x), x)
    assert not np.array_equal(layer(x), x)
    # A model mixing dlcore and flax dropout switches both with one nnx.view call.
    model = nnx.List([Dropout(0.5, rngs=nnx.Rngs(dropout=0)), nnx.Dropout(0.5, rngs=nnx.Rngs(1))])
    viewed = nnx.view(model, deterministic=True)
    assert viewed[0].deterministic and viewed[1].deterministic
    for dims in [(0,), (1, -1), ()]:
        key = jax.random.key(9)
        shared = Dropout(0.4, broadcast_dims=dims, rngs=nnx.Rngs(dropout=0))
        want = nnx.Dropout(0.4, broadcast_dims=dims)(x, deterministic=False, rngs=key)
        np.testing.assert_array_equal(shared(x, rngs=key), want)
        np.testing.assert_array_equal(broadcast_dropout(key, x, 0.4, dims), want)
    key = jax.random.key(2)
    np.testing.assert_array_equal(broadcast_dropout(key, x, 0.3, ()), dropout(key, x, 0.3))
    kept = broadcast_dropout(key, x, 0.5, (0, 2)) != 0
    assert bool(jnp.all(kept == kept[:1, :, :1]))


def test_conv2d_module_fast_path_equals_conv2d():
    x = normal(0, (2, 9, 8, 3))
    for stride, padding, dilation in [(1, "SAME", 1), (2, "VALID", 1), ((2, 1), "SAME", 2)]:
        options = {"stride": stride, "padding": padding, "dilation": dilation}
        fast = Conv2D(3, 4, (3, 2), **options, fast=True, rngs=nnx.Rngs(0))
        fast.bias[...] = jnp.arange(4.0)
        both = nnx.jit(lambda m, o=options: (m(x), conv2d(x, m.kernel[...], m.bias[...], **o)))
        got, want = both(fast)
        # Same sums in another order: float32 rounding of sums of 18 products of size ~1.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_lazy_modules_show_in_dir_and_all_without_importing_flax():
    code = (
        "import sys, dlcore.nn as nn; "
        "assert 'flax' not in sys.modules; "
        "names = dir(nn); "
        "assert {'Linear', 'MultiHeadAttention', 'Dropout', 'Conv2D'} <= set(names), names; "
        "assert set(nn._MODULES) <= set(nn.__all__) and 'softmax' in nn.__all__; "
        "assert not any(n in nn.__all__ for n in ('activations', 'modules', 'conv')); "
        "assert all(getattr(nn, n) is not None for n in nn.__all__)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
