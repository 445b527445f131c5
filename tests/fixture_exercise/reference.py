"""The reference functions of the test suite's own exercise (see spec.py): one task per
kind of argument or result that the grader must carry."""

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P


def affine(params, x, *, scale=1.0):
    """A pytree argument and a keyword; a dict result."""
    y = (x @ params["w"] + params["b"]) * scale
    return {"y": y, "norm": jnp.sqrt(jnp.sum(x * x, axis=-1))}


def apply_linear(model, x):
    """An NNX module argument."""
    return model(x)


def minimize(objective, x0, *, steps=20, learning_rate=0.1):
    """A callable argument: gradient descent on it."""

    def step(x, _):
        return x - learning_rate * jax.grad(objective)(x), None

    return lax.scan(step, x0, None, length=steps)[0]


def describe(x):
    """A str result."""
    return f"{x.shape[0]}x{x.shape[1]} {x.dtype}"


def sharded_sum(x):
    """Several devices: the column sums, reduced across every local device; and how many
    devices took part, as a Python int."""
    n = jax.device_count()
    mesh = jax.make_mesh((n,), ("d",), axis_types=(AxisType.Auto,))
    f = jax.shard_map(
        lambda b: lax.psum(jnp.sum(b, axis=0), "d"), mesh=mesh, in_specs=P("d"), out_specs=P()
    )
    return f(x), n


def word_counts(text, *, top=3):
    """A data file: the most frequent lowercase words of a text, as (word, count) pairs."""
    counts = {}
    for word in text.decode().lower().split():
        counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
