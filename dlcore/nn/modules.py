"""Thin Flax NNX modules that hold parameters and call dlcore's functional core."""

import jax
from flax import nnx

from dlcore.nn.attention import multi_head_attention
from dlcore.nn.conv import _pair, conv2d
from dlcore.nn.dropout import dropout
from dlcore.nn.pooling import avg_pool, max_pool


class Dropout(nnx.Module):
    """Inverted dropout layer calling :func:`dlcore.nn.dropout.dropout`.

    Keys come from the ``dropout`` stream of the ``rngs`` given at call time, else of a fork
    of the one given at construction; a raw ``jax.random.key`` at call time is used as is.

    Example:
      >>> layer = Dropout(0.5, rngs=nnx.Rngs(dropout=0))
      >>> layer(jnp.ones(4), deterministic=True)
      Array([1., 1., 1., 1.], dtype=float32)
    """

    def __init__(self, rate: float, *, rngs: nnx.Rngs | None):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"dropout rate must be in [0, 1], got {rate!r}")
        self.rate = rate
        self.rngs = nnx.data(None if rngs is None else rngs.dropout.fork())

    def __call__(
        self,
        x: jax.typing.ArrayLike,
        *,
        deterministic: bool = False,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array:
        if deterministic or self.rate in (0.0, 1.0):
            return dropout(None, x, self.rate, deterministic=deterministic)
        stream = self.rngs if rngs is None else rngs
        if stream is None:
            raise ValueError("Dropout needs rngs (at construction or call) when not deterministic")
        if isinstance(stream, nnx.Rngs):
            key = stream.dropout()
        elif isinstance(stream, nnx.RngStream):
            key = stream()
        else:
            key = stream
        return dropout(key, x, self.rate, deterministic=False)


class Conv2D(nnx.Module):
    """2-D convolution layer (NHWC, HWIO kernel) calling :func:`dlcore.nn.conv.conv2d`.

    The kernel is LeCun-normal initialized (as ``flax.nnx.Conv``), the bias zeros.

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
        rngs: nnx.Rngs,
    ):
        shape = (*_pair(kernel_size), in_features, out_features)
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), shape))
        self.bias = nnx.Param(nnx.initializers.zeros_init()(rngs.params(), (out_features,)))
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def __call__(self, x: jax.typing.ArrayLike) -> jax.Array:
        return conv2d(
            x,
            self.kernel[...],
            self.bias[...],
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )


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
    """A ``kernel``/``bias`` pair of Params; LeCun-normal kernel over ``fan_in``, zero bias."""

    def __init__(
        self,
        kernel_shape: tuple[int, ...],
        bias_shape: tuple[int, ...],
        fan_in: int,
        *,
        rngs: nnx.Rngs,
    ):
        std = fan_in**-0.5
        self.kernel = nnx.Param(std * jax.random.normal(rngs.params(), kernel_shape))
        self.bias = nnx.Param(jax.numpy.zeros(bias_shape))

    def as_dict(self) -> dict:
        return {"kernel": self.kernel[...], "bias": self.bias[...]}


class MultiHeadAttention(nnx.Module):
    """Self-attention layer calling :func:`dlcore.nn.attention.multi_head_attention`.

    Its Params have the layout of the functional ``params`` dict (and of
    ``flax.nnx.MultiHeadAttention``): ``query|key|value.kernel (D, N, H)``,
    ``.bias (N, H)``, ``out.kernel (N, H, D)``, ``out.bias (D,)`` with ``H = D // N``.

    Example:
      >>> layer = MultiHeadAttention(2, 8, rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((1, 5, 8))).shape
      (1, 5, 8)
    """

    def __init__(self, num_heads: int, in_features: int, *, rngs: nnx.Rngs):
        if in_features % num_heads:
            raise ValueError(f"in_features={in_features} not divisible by num_heads={num_heads}")
        head_dim = in_features // num_heads
        self.num_heads = num_heads
        qkv = ((in_features, num_heads, head_dim), (num_heads, head_dim), in_features)
        self.query = _Projection(*qkv, rngs=rngs)
        self.key = _Projection(*qkv, rngs=rngs)
        self.value = _Projection(*qkv, rngs=rngs)
        self.out = _Projection(
            (num_heads, head_dim, in_features), (in_features,), in_features, rngs=rngs
        )

    def params(self) -> dict:
        """The current weights as the plain dict :func:`multi_head_attention` takes."""
        names = ("query", "key", "value", "out")
        return {name: getattr(self, name).as_dict() for name in names}

    def __call__(
        self, x: jax.typing.ArrayLike, *, mask: jax.typing.ArrayLike | None = None
    ) -> jax.Array:
        return multi_head_attention(self.params(), x, num_heads=self.num_heads, mask=mask)
