"""Thin Flax NNX modules that hold parameters and call dlcore's functional core."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from dlcore.nn.attention import (
    _project,
    dot_product_attention_weights,
    scaled_dot_product_attention,
)
from dlcore.nn.conv import _pair, conv2d
from dlcore.nn.dropout import broadcast_dropout, dropout
from dlcore.nn.linear import dense
from dlcore.nn.pooling import avg_pool, max_pool

__all__ = ["AvgPool", "Conv2D", "Dropout", "Linear", "MaxPool", "MultiHeadAttention"]

_LECUN_NORMAL = nnx.initializers.lecun_normal()
_ZEROS = nnx.initializers.zeros_init()


def _dropout_key(stream, rngs) -> jax.Array:
    """A key from call-time ``rngs`` (Rngs, RngStream or raw key), else the stored stream."""
    stream = stream if rngs is None else rngs
    if stream is None:
        raise ValueError("dropout needs rngs (at construction or call) when not deterministic")
    if isinstance(stream, nnx.Rngs):
        return stream.dropout()
    if isinstance(stream, nnx.RngStream):
        return stream()
    return stream


class Dropout(nnx.Module):
    """Inverted dropout layer calling :func:`dlcore.nn.dropout.dropout`.

    Keys come from the ``dropout`` stream of the ``rngs`` given at call time, else of a fork
    of the one given at construction; a raw ``jax.random.key`` at call time is used as is.
    ``deterministic`` at call time wins over the attribute, which ``nnx.view(model,
    deterministic=True)`` sets for evaluation (as ``flax.nnx.Dropout``). ``broadcast_dims``
    share one mask value along those axes (:func:`dlcore.nn.dropout.broadcast_dropout`).

    Example:
      >>> layer = Dropout(0.5, rngs=nnx.Rngs(dropout=0))
      >>> layer(jnp.ones(4), deterministic=True)
      Array([1., 1., 1., 1.], dtype=float32)
      >>> nnx.view(layer, deterministic=True)(jnp.ones(4))
      Array([1., 1., 1., 1.], dtype=float32)
    """

    def __init__(
        self,
        rate: float,
        *,
        broadcast_dims: Sequence[int] = (),
        deterministic: bool = False,
        rngs: nnx.Rngs | None = None,
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"dropout rate must be in [0, 1], got {rate!r}")
        self.rate = rate
        self.broadcast_dims = tuple(broadcast_dims)
        self.deterministic = deterministic
        self.rngs = nnx.data(None if rngs is None else rngs.dropout.fork())

    def set_view(self, deterministic: bool | None = None) -> None:
        """Hook of ``nnx.view``: set the default ``deterministic`` flag."""
        if deterministic is not None:
            self.deterministic = deterministic

    def __call__(
        self,
        x: jax.typing.ArrayLike,
        *,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array:
        deterministic = self.deterministic if deterministic is None else deterministic
        if deterministic or self.rate in (0.0, 1.0):
            return dropout(None, x, self.rate, deterministic=deterministic)
        key = _dropout_key(self.rngs, rngs)
        if self.broadcast_dims:
            return broadcast_dropout(key, x, self.rate, self.broadcast_dims)
        return dropout(key, x, self.rate, deterministic=False)


class Linear(nnx.Module):
    """Fully connected layer ``y = x @ kernel + bias`` calling :func:`dlcore.nn.linear.dense`.

    Parameters are drawn as ``flax.nnx.Linear`` draws them (LeCun-normal kernel ``(in, out)``
    from the first ``params`` key, zero bias), so the same ``Rngs`` give the same weights.
    ``dtype`` is the computation dtype (inputs and params are cast to it; ``None`` promotes
    them together), ``param_dtype`` the storage dtype.

    Example:
      >>> layer = Linear(3, 2, rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((4, 3))).shape
      (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = True,
        dtype: jax.typing.DTypeLike | None = None,
        param_dtype: jax.typing.DTypeLike = jnp.float32,
        kernel_init: nnx.Initializer = _LECUN_NORMAL,
        bias_init: nnx.Initializer = _ZEROS,
        rngs: nnx.Rngs,
    ):
        self.kernel = nnx.Param(
            kernel_init(rngs.params(), (in_features, out_features), param_dtype)
        )
        if use_bias:
            self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype))
        else:
            self.bias = nnx.data(None)
        self.in_features, self.out_features = in_features, out_features
        self.use_bias, self.dtype, self.param_dtype = use_bias, dtype, param_dtype

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        kernel = self.kernel[...]
        bias = (
            jnp.zeros((self.out_features,), kernel.dtype) if self.bias is None else self.bias[...]
        )
        x = jnp.asarray(x)
        dtype = self.dtype or jnp.result_type(x, kernel, bias)
        return dense(x.astype(dtype), kernel.astype(dtype), bias.astype(dtype))


class Conv2D(nnx.Module):
    """2-D convolution layer (NHWC, HWIO kernel) calling :func:`dlcore.nn.conv.conv2d`.

    The kernel is LeCun-normal initialized (as ``flax.nnx.Conv``), the bias zeros. With
    ``fast=True`` the layer runs ``lax.conv_general_dilated``, XLA's convolution, instead of
    the teaching ``conv2d`` (patches and one einsum): the same cross-correlation up to float32
    summation order (a test pins the two), and 2-3x faster on CPU (see ``conv2d``).

    Example:
      >>> layer = Conv2D(1, 4, 3, padding="SAME", rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((2, 8, 8, 1))).shape
      (2, 8, 8, 4)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: str = "VALID",
        dilation: int | tuple[int, int] = 1,
        fast: bool = False,
        rngs: nnx.Rngs,
    ):
        shape = (*_pair(kernel_size), in_features, out_features)
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), shape))
        self.bias = nnx.Param(nnx.initializers.zeros_init()(rngs.params(), (out_features,)))
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.fast = fast

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        kernel, bias = self.kernel[...], self.bias[...]
        if not self.fast:
            return conv2d(
                x, kernel, bias, stride=self.stride, padding=self.padding, dilation=self.dilation
            )
        if self.padding not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME' or 'VALID', got {self.padding!r}")
        y = lax.conv_general_dilated(
            jnp.asarray(x),
            kernel,
            window_strides=_pair(self.stride),
            padding=self.padding,
            rhs_dilation=_pair(self.dilation),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + bias.reshape((1, 1, 1, -1))


class MaxPool(nnx.Module):
    """Max pooling layer calling :func:`dlcore.nn.pooling.max_pool` (no parameters)."""

    def __init__(
        self,
        window: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: str = "VALID",
    ):
        self.window, self.stride, self.padding = window, stride, padding

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        return max_pool(x, self.window, self.stride, self.padding)


class AvgPool(nnx.Module):
    """Average pooling layer calling :func:`dlcore.nn.pooling.avg_pool` (no parameters)."""

    def __init__(
        self,
        window: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: str = "VALID",
    ):
        self.window, self.stride, self.padding = window, stride, padding

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        return avg_pool(x, self.window, self.stride, self.padding)


class _Projection(nnx.Module):
    """A ``kernel``/``bias`` pair of Params; normal kernel with std ``fan_in ** -0.5``."""

    def __init__(
        self,
        kernel_shape: tuple[int, ...],
        bias_shape: tuple[int, ...],
        fan_in: int,
        *,
        use_bias: bool = True,
        param_dtype: jax.typing.DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        std = fan_in**-0.5
        kernel = std * jax.random.normal(rngs.params(), kernel_shape)
        self.kernel = nnx.Param(kernel.astype(param_dtype))
        self.bias = nnx.Param(jnp.zeros(bias_shape, param_dtype)) if use_bias else nnx.data(None)
        self.bias_shape = tuple(bias_shape)

    def as_dict(self, dtype: jax.typing.DTypeLike | None = None) -> dict:
        """``{"kernel", "bias"}`` (a zero bias when the layer has none), cast to ``dtype``."""
        kernel = self.kernel[...]
        if self.bias is None:
            bias = jnp.zeros(self.bias_shape, kernel.dtype)
        else:
            bias = self.bias[...]
        if dtype is not None:
            kernel, bias = kernel.astype(dtype), bias.astype(dtype)
        return {"kernel": kernel, "bias": bias}


class MultiHeadAttention(nnx.Module):
    """Multi-head attention layer built from :mod:`dlcore.nn.attention`.

    ``q = inputs_q W_q + b_q``, ``k = inputs_k W_k + b_k``, ``v = inputs_v W_v + b_v``
    (each ``(B, T|S, N, H)``), ``o = scaled_dot_product_attention(q, k, v, mask, causal)``,
    ``y = sum_{n, h} o[..., n, h] W_o[n, h, :] + b_o``. Self-attention when only
    ``inputs_q`` is given (then equal, bitwise, to :func:`multi_head_attention` with
    :meth:`params`); cross-attention with ``inputs_k`` (and ``inputs_v``, which defaults to
    ``inputs_k``), as ``flax.nnx.MultiHeadAttention``.

    Its Params have the layout of the functional ``params`` dict (and of
    ``flax.nnx.MultiHeadAttention``): ``query.kernel (D_in, N, H)``,
    ``key|value.kernel (D_kv, N, H)``, ``.bias (N, H)``, ``out.kernel (N, H, D_out)``,
    ``out.bias (D_out,)`` with ``H = qkv_features // N``. Only ``qkv_features`` (default
    ``in_features``) must divide by ``num_heads``.

    ``causal=True`` (here or at call time) lets query ``t`` see keys ``s <= t`` only.
    ``dropout_rate > 0`` drops attention weights (:func:`dot_product_attention_weights`
    then :func:`dlcore.nn.dropout.broadcast_dropout`, one mask shared by the batch and the
    heads when ``broadcast_dropout``, as flax) unless deterministic; ``deterministic`` at call
    time wins over the attribute, which ``nnx.view`` sets. ``dtype`` is the computation
    dtype (inputs and params cast to it; ``None`` promotes them), ``param_dtype`` the
    storage dtype.

    Warning:
      The kernels are drawn from a plain normal with standard deviation ``fan_in ** -0.5``;
      ``flax.nnx.MultiHeadAttention`` draws LeCun-normal (truncated) kernels, so the same
      ``Rngs`` give different weights (copy them to compare, as the tests do). Flax has no
      ``causal`` flag: it takes ``nnx.make_causal_mask`` as the mask.

    Example:
      >>> layer = MultiHeadAttention(2, 8, rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((1, 5, 8))).shape
      (1, 5, 8)
      >>> cross = MultiHeadAttention(3, 5, qkv_features=6, in_kv_features=4, rngs=nnx.Rngs(0))
      >>> cross(jnp.ones((1, 2, 5)), jnp.ones((1, 7, 4)), causal=True).shape
      (1, 2, 5)
    """

    def __init__(
        self,
        num_heads: int,
        in_features: int,
        qkv_features: int | None = None,
        out_features: int | None = None,
        in_kv_features: int | None = None,
        *,
        causal: bool = False,
        dropout_rate: float = 0.0,
        broadcast_dropout: bool = True,
        deterministic: bool = False,
        use_bias: bool = True,
        dtype: jax.typing.DTypeLike | None = None,
        param_dtype: jax.typing.DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        qkv_features = in_features if qkv_features is None else qkv_features
        out_features = in_features if out_features is None else out_features
        in_kv_features = in_features if in_kv_features is None else in_kv_features
        if qkv_features % num_heads:
            raise ValueError(
                f"qkv_features={qkv_features} (in_features unless given) is not divisible "
                f"by num_heads={num_heads}; pass a qkv_features that is"
            )
        if not 0.0 <= dropout_rate <= 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1], got {dropout_rate!r}")
        head_dim = qkv_features // num_heads
        self.num_heads, self.head_dim = num_heads, head_dim
        self.in_features, self.in_kv_features = in_features, in_kv_features
        self.qkv_features, self.out_features = qkv_features, out_features
        self.causal, self.dropout_rate = causal, dropout_rate
        self.broadcast_dropout, self.deterministic = broadcast_dropout, deterministic
        self.dtype, self.param_dtype = dtype, param_dtype
        options = {"use_bias": use_bias, "param_dtype": param_dtype, "rngs": rngs}
        heads = (num_heads, head_dim)
        self.query = _Projection((in_features, *heads), heads, in_features, **options)
        self.key = _Projection((in_kv_features, *heads), heads, in_kv_features, **options)
        self.value = _Projection((in_kv_features, *heads), heads, in_kv_features, **options)
        self.out = _Projection((*heads, out_features), (out_features,), qkv_features, **options)
        self.rngs = nnx.data(rngs.dropout.fork() if dropout_rate > 0 else None)

    def set_view(self, deterministic: bool | None = None) -> None:
        """Hook of ``nnx.view``: set the default ``deterministic`` flag."""
        if deterministic is not None:
            self.deterministic = deterministic

    def params(self) -> dict:
        """The current weights as the plain dict :func:`multi_head_attention` takes."""
        names = ("query", "key", "value", "out")
        return {name: getattr(self, name).as_dict(self.dtype) for name in names}

    def __call__(
        self,
        inputs_q: jax.typing.ArrayLike,
        inputs_k: jax.typing.ArrayLike | None = None,
        inputs_v: jax.typing.ArrayLike | None = None,
        *,
        mask: jax.typing.ArrayLike | None = None,
        causal: bool | None = None,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array:
        if inputs_k is None and inputs_v is not None:
            raise ValueError("pass inputs_k with inputs_v (inputs_v defaults to inputs_k)")
        inputs_k = inputs_q if inputs_k is None else inputs_k
        inputs_v = inputs_k if inputs_v is None else inputs_v
        causal = self.causal if causal is None else causal
        deterministic = self.deterministic if deterministic is None else deterministic
        p = self.params()
        xs = [jnp.asarray(x) for x in (inputs_q, inputs_k, inputs_v)]
        if self.dtype is not None:
            xs = [x.astype(self.dtype) for x in xs]
        q, k, v = (_project(x, **p[n]) for x, n in zip(xs, ("query", "key", "value"), strict=True))
        if self.dropout_rate > 0 and not deterministic:
            weights = dot_product_attention_weights(q, k, mask=mask, is_causal=causal)
            shared = (0, 1) if self.broadcast_dropout else ()
            key = _dropout_key(self.rngs, rngs)
            weights = broadcast_dropout(key, weights, self.dropout_rate, shared)
            o = jnp.einsum("bnts,bsnh->btnh", weights.astype(v.dtype), v)
        else:
            o = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=causal)
        y = jnp.einsum("btnh,nhd->btd", o, p["out"]["kernel"])
        return y + p["out"]["bias"][None, None]
