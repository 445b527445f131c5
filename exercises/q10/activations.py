"""q10 Activation functions: activation functions written from jax.numpy primitives.

Graded tasks: sigmoid, relu, leaky_relu, tanh, softplus, gelu, softmax, log_softmax.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q10
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


# Task: graded.
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
    raise NotImplementedError('q10 sigmoid: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 relu: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 leaky_relu: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 tanh: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 softplus: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 gelu: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 softmax: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q10 log_softmax: write this function (see README.md)')
