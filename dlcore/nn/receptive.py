"""Receptive field of a convolution stack and parameter counts of a pytree (not jitted)."""

import math
from collections.abc import Sequence
from typing import Any

import jax


def receptive_field(
    kernel_sizes: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> int:
    """Number of input positions spanned by one output of a stack of 1-D convolutions.

    ``RF = 1 + sum_l (k_l - 1) * d_l * prod_{j < l} s_j``: layer ``l`` widens the span by
    ``(k_l - 1) * d_l`` of *its* input steps, and one of those steps is ``prod_{j<l} s_j``
    steps of the original input (a layer's own stride does not widen its own window). This
    is the span from the first to the last input that reaches the output; with dilation some
    positions inside the span are not connected at all. Python ints; not jitted.

    Args:
      kernel_sizes: ``k_l`` per layer, input side first.
      strides: ``s_l`` per layer.
      dilations: ``d_l`` per layer.

    Returns:
      The receptive field, a Python int.

    Example:
      >>> receptive_field([3, 3, 3], [1, 1, 1], [1, 2, 4])  # WaveNet-style doubling
      15
      >>> receptive_field([4, 3, 2], [3, 2, 1], [1, 1, 2])
      22

    References:
      Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks",
      Distill 2019, https://distill.pub/2019/computing-receptive-fields/.
    """
    if not len(kernel_sizes) == len(strides) == len(dilations):
        raise ValueError("kernel_sizes, strides and dilations must have the same length")
    field, jump = 1, 1
    for kernel, stride, dilation in zip(kernel_sizes, strides, dilations, strict=True):
        field += (int(kernel) - 1) * int(dilation) * jump
        jump *= int(stride)
    return field


def count_params(params: Any) -> int:
    """Total number of scalars in a pytree: the sum of the sizes of its leaves.

    A conv layer ``{w: (K, C, O), b: (O,)}`` has ``K*C*O + O`` parameters whatever the
    sequence length; an Elman RNN ``D*H + H^2 + H`` whatever ``T``. Not jitted.

    Args:
      params: any pytree of arrays (or ``jax.ShapeDtypeStruct``).

    Returns:
      A Python int.

    Example:
      >>> count_params({"w": jnp.zeros((3, 4, 8)), "b": jnp.zeros(8)})
      104

    References:
      ``jax.tree.leaves``, https://docs.jax.dev/en/latest/pytrees.html.
    """
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
