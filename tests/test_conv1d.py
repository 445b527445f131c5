"""conv1d pinned to lax.conv_general_dilated and nnx.Conv(CAUSAL); receptive field and counts."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dlcore.nn.conv1d import conv1d
from dlcore.nn.receptive import count_params, receptive_field

# float32 sums of at most K*C = 9 products of O(1) numbers; lax and einsum differ in
# summation order only (a few ulps), so atol 1e-5.
ATOL = 1e-5


def _lax_conv1d(x, w, b, stride, padding, dilation):
    if padding == "CAUSAL":
        padding = [((w.shape[0] - 1) * dilation, 0)]
    y = jax.lax.conv_general_dilated(
        x,
        w,
        (stride,),
        padding,
        rhs_dilation=(dilation,),
        dimension_numbers=("NWC", "WIO", "NWC"),
    )
    return y + b[None, None, :]


def _data(seed, n=2, width=11, c=3, k=3, o=4):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return (
        jax.random.normal(k1, (n, width, c)),
        jax.random.normal(k2, (k, c, o)),
        jax.random.normal(k3, (o,)),
    )


def test_matches_lax_over_stride_padding_dilation_kernel():
    for stride, padding, dilation, k in itertools.product(
        (1, 2), ("VALID", "SAME", "CAUSAL"), (1, 2), (2, 3)
    ):
        x, w, b = _data(stride * 7 + dilation, k=k)
        # one compiled program per configuration (eager dispatch would compile every op)
        y, ref = jax.jit(
            lambda x, w, b, s=stride, p=padding, d=dilation: (
                conv1d(x, w, b, stride=s, padding=p, dilation=d),
                _lax_conv1d(x, w, b, s, p, d),
            )
        )(x, w, b)
        assert y.shape == ref.shape, (stride, padding, dilation, k)
        np.testing.assert_allclose(y, ref, atol=ATOL, err_msg=str((stride, padding, dilation, k)))


def test_causal_matches_nnx_conv_and_stride_two_length():
    x, w, b = _data(1, width=10)
    conv = nnx.Conv(
        3, 4, kernel_size=(3,), padding="CAUSAL", kernel_dilation=(2,), rngs=nnx.Rngs(0)
    )
    conv.kernel[...] = w
    conv.bias[...] = b
    np.testing.assert_allclose(conv1d(x, w, b, padding="CAUSAL", dilation=2), conv(x), atol=ATOL)
    assert conv1d(x, w, b, stride=2, padding="CAUSAL").shape == (2, 5, 4)


@pytest.mark.parametrize("padding", ["SAME", "CAUSAL"])
def test_gradients_jit_and_vmap(padding):
    x, w, b = _data(2)
    kw = dict(stride=2, padding=padding, dilation=2)
    cot = jax.random.normal(jax.random.key(3), conv1d(x, w, b, **kw).shape)
    grads = jax.grad(lambda *a: jnp.sum(cot * conv1d(*a, **kw)), argnums=(0, 1, 2))(x, w, b)
    refs = jax.grad(lambda *a: jnp.sum(cot * _lax_conv1d(*a, 2, padding, 2)), argnums=(0, 1, 2))(
        x, w, b
    )
    for g, r in zip(grads, refs, strict=True):
        np.testing.assert_allclose(g, r, atol=1e-4)
    f = jax.jit(conv1d, static_argnames=("stride", "padding", "dilation"))
    np.testing.assert_allclose(f(x, w, b, **kw), conv1d(x, w, b, **kw), atol=ATOL)
    xs = jnp.stack([x, -x, 2 * x])
    many = jax.vmap(lambda xx: conv1d(xx, w, b, **kw))(xs)
    for i in range(3):
        np.testing.assert_allclose(many[i], conv1d(xs[i], w, b, **kw), atol=ATOL)


def test_translation_equivariance():
    x, w, b = _data(4, width=20)
    for stride in (1, 2):
        shift = 2  # a multiple of both strides
        y = conv1d(x, w, b, stride=stride, padding="VALID")
        y_shift = conv1d(jnp.roll(x, shift, axis=1), w, b, stride=stride, padding="VALID")
        lo = shift // stride
        # interior: outputs whose window does not wrap around
        np.testing.assert_allclose(y_shift[:, lo + 1 :], y[:, 1 : y.shape[1] - lo], atol=ATOL)


def test_causal_stack_jacobian_has_no_future_dependence():
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(5), 3)
        ws = [jax.random.normal(keys[i], (3, 1, 1), jnp.float64) for i in range(2)]
        x = jax.random.normal(keys[2], (1, 12, 1), jnp.float64)

        def stack(x):
            h = jnp.tanh(conv1d(x, ws[0], jnp.zeros(1), padding="CAUSAL", dilation=1))
            return conv1d(h, ws[1], jnp.zeros(1), padding="CAUSAL", dilation=2)[0, :, 0]

        jac = jax.jit(jax.jacfwd(stack))(x)[:, 0, :, 0]  # (t, s)
        future = jnp.triu(jnp.ones((12, 12), bool), k=1)
        assert bool(jnp.all(jnp.where(future, jac, 0.0) == 0.0))
        # ... and reaches exactly receptive_field([3, 3], [1, 1], [1, 2]) = 7 steps back
        t = 11
        nonzero = np.nonzero(np.asarray(jac[t]))[0]
        assert t - nonzero[0] + 1 == receptive_field([3, 3], [1, 1], [1, 2]) == 7


def test_receptive_field_equals_jacobian_span_of_valid_stack():
    kernels, strides, dilations = (4, 3, 2), (3, 2, 1), (1, 1, 2)
    rf = receptive_field(kernels, strides, dilations)
    assert rf == 22
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(6), 4)
        ws = [jax.random.normal(keys[i], (k, 1, 1), jnp.float64) for i, k in enumerate(kernels)]
        x = jax.random.normal(keys[3], (1, 60, 1), jnp.float64)

        def stack(x):
            h = x
            for w, s, d in zip(ws, strides, dilations, strict=True):
                h = jnp.tanh(conv1d(h, w, jnp.zeros(1), stride=s, dilation=d))
            return h[0, :, 0]

        jac = np.asarray(jax.jit(jax.jacfwd(stack))(x)[:, 0, :, 0])
    for t in range(jac.shape[0]):
        nonzero = np.nonzero(jac[t])[0]
        assert nonzero[0] == t * 6 and nonzero[-1] - nonzero[0] + 1 == rf
    assert len(np.nonzero(jac[0])[0]) == 20  # holes: span 22, 20 connected inputs


def test_receptive_field_formula():
    assert receptive_field([3], [1], [1]) == 3
    assert receptive_field([3, 3], [2, 1], [1, 1]) == 7  # strides of earlier layers count
    assert receptive_field([2, 2, 2, 2], [1, 1, 1, 1], [1, 2, 4, 8]) == 16
    assert receptive_field([], [], []) == 1


def test_count_params_independent_of_length():
    k, c, o, d, h = 3, 5, 7, 4, 6
    conv = {"w": jnp.zeros((k, c, o)), "b": jnp.zeros(o)}
    rnn = {"w_xh": jnp.zeros((d, h)), "w_hh": jnp.zeros((h, h)), "b_h": jnp.zeros(h)}
    assert count_params(conv) == k * c * o + o
    assert count_params(rnn) == d * h + h * h + h
    assert isinstance(count_params(rnn), int)
    assert count_params(jax.eval_shape(lambda: conv)) == k * c * o + o
