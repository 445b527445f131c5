"""q10 Activation functions: reference solution.

Generated from dlcore.nn.activations by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: sigmoid, relu, leaky_relu, tanh, softplus, gelu, softmax, log_softmax.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_SQRT_HALF = float(np.sqrt(0.5))


def sigmoid(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Logistic sigmoid, elementwise.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}
       = \begin{cases} 1 / (1 + e^{-|x|}) & x \ge 0 \\ e^{-|x|} / (1 + e^{-|x|}) & x < 0 \end{cases}

    Args:
      x: input array of any shape and floating dtype.

    Returns:
      An array like ``x`` with values in ``[0, 1]``.

    Example:
      >>> sigmoid(jnp.array([-1e4, 0.0, 1e4]))
      Array([0. , 0.5, 1. ], dtype=float32)

    References:
      ``jax.nn.sigmoid``: https://docs.jax.dev/en/latest/jax.nn.html
    """
    x = jnp.asarray(x)
    # exp only ever sees -|x| <= 0, so it never overflows (1 / (1 + e^{1e4}) would be 1/inf).
    e = jnp.exp(jnp.where(x >= 0, -x, x))
    return jnp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Rectified linear unit, elementwise.

    .. math:: \mathrm{relu}(x) = \max(x, 0), \qquad \mathrm{relu}'(x) = [x > 0]

    Args:
      x: input array of any shape.

    Returns:
      An array like ``x``.

    Example:
      >>> relu(jnp.array([-2.0, 0.0, 3.0]))
      Array([0., 0., 3.], dtype=float32)

    References:
      Nair and Hinton, Rectified Linear Units Improve Restricted Boltzmann Machines, 2010.
    """
    x = jnp.asarray(x)
    # where() rather than jnp.maximum: maximum splits the gradient 1/2-1/2 at the tie x = 0,
    # jax.nn.relu and PyTorch use 0 there.
    return jnp.where(x > 0, x, 0)


def leaky_relu(x: jax.typing.ArrayLike, negative_slope: jax.typing.ArrayLike = 0.01) -> jax.Array:
    r"""Leaky ReLU, elementwise.

    .. math:: \mathrm{leaky\_relu}(x) = \begin{cases} x & x \ge 0 \\ \alpha x & x < 0 \end{cases}

    Args:
      x: input array of any shape.
      negative_slope: the slope :math:`\alpha` for negative inputs.

    Returns:
      An array like ``x``.

    Example:
      >>> leaky_relu(jnp.array([-2.0, 0.0, 3.0]), negative_slope=0.5)
      Array([-1.,  0.,  3.], dtype=float32)

    References:
      Maas et al., Rectifier Nonlinearities Improve Neural Network Acoustic Models, 2013.
    """
    x = jnp.asarray(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def tanh(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Hyperbolic tangent, elementwise.

    .. math:: \tanh(x) = \operatorname{sign}(x)\,\frac{1 - e^{-2|x|}}{1 + e^{-2|x|}}
       = -\operatorname{sign}(x)\,\frac{m}{2 + m}, \quad m = \operatorname{expm1}(-2|x|)

    Args:
      x: input array of any shape and floating dtype.

    Returns:
      An array like ``x`` with values in ``[-1, 1]``.

    Example:
      >>> tanh(jnp.array([-1e4, 0.0, 1e4]))
      Array([-1.,  0.,  1.], dtype=float32)

    References:
      ``jax.numpy.tanh``: https://docs.jax.dev/en/latest/jax.numpy.html
    """
    x = jnp.asarray(x)
    # expm1 of a non-positive number: no overflow for large |x| and no cancellation in
    # 1 - e^{-2|x|} for tiny |x|, so tanh(1e-8) is 1e-8, not 0.
    m = jnp.expm1(2 * jnp.where(x >= 0, -x, x))
    t = -m / (2 + m)
    return jnp.where(x >= 0, t, -t)


def softplus(x: jax.typing.ArrayLike) -> jax.Array:
    r"""Softplus, a smooth ReLU, elementwise.

    .. math:: \mathrm{softplus}(x) = \log(1 + e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})

    Args:
      x: input array of any shape and floating dtype.

    Returns:
      An array like ``x`` with positive values.

    Example:
      >>> softplus(jnp.array([-1e4, 0.0, 1e4]))
      Array([0.0000...e+00, 6.9314...e-01, 1.0000...e+04], dtype=float32)

    References:
      Dugas et al., Incorporating Second-Order Functional Knowledge for Better Option
      Pricing, NeurIPS 2000.
    """
    x = jnp.asarray(x)
    # Both terms branch with where(), not max/abs: JAX gives max a 1/2 gradient at the tie and
    # abs a gradient of 1 at 0, which would make softplus'(0) = 0 instead of 1/2.
    return jnp.where(x >= 0, x, 0) + jnp.log1p(jnp.exp(jnp.where(x >= 0, -x, x)))


def gelu(x: jax.typing.ArrayLike, approximate: bool = True) -> jax.Array:
    r"""Gaussian error linear unit, elementwise.

    .. math:: \mathrm{gelu}(x) = x\,\Phi(x) = \tfrac{x}{2}\,\operatorname{erfc}(-x/\sqrt{2})
       \approx \tfrac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\right)\right)

    Args:
      x: input array of any shape and floating dtype.
      approximate: use the tanh approximation (default, as ``jax.nn.gelu``) instead of the
        exact erf form. Static under ``jit``.

    Returns:
      An array like ``x``.

    Warning:
      PyTorch's ``torch.nn.GELU`` defaults to the exact erf form (``approximate="none"``);
      JAX and dlcore default to the tanh approximation. Pass ``approximate=False`` to match
      PyTorch. The two differ by up to about 5e-4.

    Example:
      >>> gelu(jnp.array([-1.0, 0.0, 1.0]), approximate=False)
      Array([-0.1586...,  0.        ,  0.8413...], dtype=float32)

    References:
      Hendrycks and Gimpel, `Gaussian Error Linear Units (GELUs)
      <https://arxiv.org/abs/1606.08415>`_, 2016.
    """
    x = jnp.asarray(x)
    if approximate:
        # jnp.tanh, not this module's tanh, so that GELU does not depend on the tanh task.
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        return 0.5 * x * (1 + jnp.tanh(inner))
    # erfc(-z) rather than 1 + erf(z): no cancellation in the far negative tail.
    return 0.5 * x * lax.erfc(-x * _SQRT_HALF)


def softmax(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    r"""Softmax along ``axis``.

    .. math:: \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j

    Args:
      x: input array of any shape and floating dtype.
      axis: the axis or axes to normalize over.

    Returns:
      An array like ``x``, non-negative, summing to 1 along ``axis``; an empty array (an
      empty ``axis`` included) gives an empty array of the same shape, as ``jax.nn.softmax``.

    Example:
      >>> softmax(jnp.array([1e4, 1e4, -1e4]))
      Array([0.5, 0.5, 0. ], dtype=float32)

    References:
      Bridle, Probabilistic Interpretation of Feedforward Classification Network Outputs, 1990.
    """
    x = jnp.asarray(x)
    # Subtracting the max keeps exp() <= 1; softmax is shift-invariant, so the shift needs
    # no gradient and stop_gradient saves the backward pass from differentiating the max.
    # initial=-inf gives an empty axis a max (a reduction with no identity would raise) and
    # changes nothing elsewhere: max(x, -inf) == max(x).
    shifted = x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))
    unnormalized = jnp.exp(shifted)
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


def log_softmax(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    r"""Log of the softmax along ``axis``, computed without forming the softmax.

    .. math:: \mathrm{log\_softmax}(x)_i = (x_i - m) - \log \sum_j e^{x_j - m},
       \quad m = \max_j x_j

    Args:
      x: input array of any shape and floating dtype.
      axis: the axis or axes to normalize over.

    Returns:
      An array like ``x`` with values ``<= 0``; empty for an empty ``x``, as
      ``jax.nn.log_softmax``.

    Example:
      >>> log_softmax(jnp.array([1e4, 0.0]))
      Array([     0., -10000.], dtype=float32)

    References:
      ``jax.nn.log_softmax``: https://docs.jax.dev/en/latest/jax.nn.html
    """
    x = jnp.asarray(x)
    shifted = x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))
