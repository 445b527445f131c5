"""q18 Vanishing and exploding gradients: gradient norms and clipping, Glorot/He initialization, a residual MLP and non-finite detection.

Graded tasks: layer_grad_norms, global_norm, clip_by_global_norm, init_xavier, init_he, residual_mlp, detect_nonfinite.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q18
"""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


# Task: graded.
def layer_grad_norms(grads: list[Any]) -> jax.Array:
    """Gradient norm of each layer: entry ``l`` is ``sqrt(sum of g^2)`` over layer ``l``'s leaves.

    Plotting these over depth is how vanishing (norms shrinking towards the input) and
    exploding (growing) gradients show up.

    Args:
      grads: a list of per-layer pytrees, e.g. ``[{"w": ..., "b": ...}, ...]``.

    Returns:
      A float32 array of shape ``(L,)``.

    Example:
      >>> layer_grad_norms([{"w": jnp.array([3.0, 4.0])}, {"w": jnp.zeros(2), "b": jnp.ones(1)}])
      Array([5., 1.], dtype=float32)

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010 (per-layer gradient statistics).
    """
    raise NotImplementedError('q18 layer_grad_norms: write this function (see README.md)')


# Task: graded.
def global_norm(tree: Any) -> jax.Array:
    """Euclidean norm of a whole pytree: ``sqrt(sum over every leaf of sum(g^2))``.

    Args:
      tree: any pytree of arrays (gradients, parameters).

    Returns:
      A float scalar, as ``optax.tree.norm(tree)``.

    Example:
      >>> global_norm({"w": jnp.array([3.0]), "b": [jnp.array(4.0)]})
      Array(5., dtype=float32)

    References:
      ``optax.tree.norm`` (``optax.global_norm`` is deprecated since optax 0.2.6).
    """
    raise NotImplementedError('q18 global_norm: write this function (see README.md)')


# Task: graded.
def clip_by_global_norm(grads: Any, max_norm: jax.typing.ArrayLike) -> Any:
    """Rescales a gradient pytree so that its global norm is at most ``max_norm``.

    With ``n = global_norm(grads)``: leaves are returned unchanged if ``n < max_norm``, else
    each is multiplied by ``max_norm / n``. All leaves share one factor, so the update keeps
    its direction. Zero gradients stay zero (the unused ``0/0`` branch is never selected and
    its NaN never reaches the result). ``max_norm`` may be a traced scalar.

    Args:
      grads: any pytree of float arrays.
      max_norm: the threshold, a positive scalar.

    Returns:
      A pytree of the structure and shapes of ``grads``, as
      ``optax.clip_by_global_norm(max_norm).update(grads, state)[0]``.

    Warning:
      PyTorch's ``clip_grad_norm_`` multiplies by ``min(1, max_norm / (n + 1e-6))``, so a
      clipped norm lands slightly below ``max_norm``; Keras's ``clipnorm`` clips each
      variable separately (``global_clipnorm`` is the global one).

    Example:
      >>> clip_by_global_norm({"a": jnp.array([3.0, 4.0])}, 1.0)["a"]
      Array([0.6, 0.8], dtype=float32)

    References:
      Pascanu, Mikolov and Bengio, "On the difficulty of training recurrent neural
      networks", ICML 2013, https://arxiv.org/abs/1211.5063; ``optax.clip_by_global_norm``.
    """
    raise NotImplementedError('q18 clip_by_global_norm: write this function (see README.md)')


# Task: graded.
def init_xavier(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Glorot/Xavier uniform initialization: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``.

    This keeps the variance ``a^2 / 3 = 2 / (fan_in + fan_out)``, the compromise between
    preserving the forward signal (``1 / fan_in``) and the backward gradient
    (``1 / fan_out``) of a linear or tanh layer. Equal (rtol 1e-6) to
    ``jax.nn.initializers.glorot_uniform()(key, shape)``.

    Args:
      key: a ``jax.random.key``; used once.
      shape: ``(fan_in, fan_out)`` for a dense kernel or ``(*window, in, out)`` for a conv
        kernel (HWIO); static.

    Returns:
      A float32 array of ``shape``.

    Warning:
      Keras's default ``glorot_uniform`` computes the same fans. PyTorch's
      ``xavier_uniform_`` reads a conv weight as ``(out, in, *window)``, so the same formula
      with the fans taken from the first two axes; ``nn.Linear``'s own default is not Xavier
      but ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Example:
      >>> w = init_xavier(jax.random.key(0), (64, 32))
      >>> w.shape, bool(jnp.all(jnp.abs(w) <= (6 / 96) ** 0.5))
      ((64, 32), True)

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010; ``jax.nn.initializers.glorot_uniform``.
    """
    raise NotImplementedError('q18 init_xavier: write this function (see README.md)')


# Task: graded.
def init_he(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """He/Kaiming normal initialization with variance ``2 / fan_in``, truncated at 2 std.

    ``w = truncated_normal(-2, 2) * sqrt(2 / fan_in) / 0.8796...``: the truncated standard
    normal has standard deviation 0.8796, so dividing by it restores variance
    ``2 / fan_in``, which keeps the signal scale of a ReLU layer (half its inputs are zeroed).
    Equal (rtol 1e-6) to ``jax.nn.initializers.he_normal()(key, shape)``.

    Args:
      key: a ``jax.random.key``; used once.
      shape: ``(fan_in, fan_out)`` or ``(*window, in, out)`` (HWIO); static.

    Returns:
      A float32 array of ``shape``.

    Warning:
      PyTorch's ``kaiming_normal_`` draws from an untruncated normal (same variance, other
      values) and by default takes ``fan_in`` from a ``(out, in, *window)`` weight; Keras's
      ``he_normal`` is truncated like jax's.

    Example:
      >>> w = init_he(jax.random.key(0), (512, 512))
      >>> round(float(jnp.var(w) * 512), 1)
      2.0

    References:
      He et al., "Delving Deep into Rectifiers", ICCV 2015, https://arxiv.org/abs/1502.01852;
      ``jax.nn.initializers.he_normal``.
    """
    raise NotImplementedError('q18 init_he: write this function (see README.md)')


# Task: graded.
def residual_mlp(
    params: list[dict[str, Any]],
    x: jax.typing.ArrayLike,
    *,
    activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
) -> jax.Array:
    """A stack of residual blocks ``h <- h + activation(h @ w + b)``, starting at ``h = x``.

    The Jacobian of a block is ``I + W^T diag(activation')``: the identity term carries the
    gradient to early layers even when the activation saturates, where a plain stack
    multiplies ``diag(activation') W`` factors that shrink it geometrically. Blocks are
    unscaled, so with ReLU and He weights the activations grow with depth.

    Args:
      params: a list of ``{"w": (D, D), "b": (D,)}``, one per block.
      x: inputs, shape ``(B, D)``.
      activation: elementwise nonlinearity; static.

    Returns:
      Array of shape ``(B, D)``.

    Warning:
      The skip is added *after* the nonlinearity. ``activation(h + h @ w + b)`` puts the
      identity path back through the activation's derivative and loses the benefit.
      ResNet's original blocks apply ReLU after the addition but contain two convolutions and
      batch norm; the pre-activation form (He et al. 2016b) keeps the identity path clean.

    Example:
      >>> params = [{"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)} for _ in range(3)]
      >>> residual_mlp(params, jnp.array([[1.0, -2.0]]))  # tanh(0) = 0: identity
      Array([[ 1., -2.]], dtype=float32)

    References:
      He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
      https://arxiv.org/abs/1512.03385; He et al., "Identity Mappings in Deep Residual
      Networks", ECCV 2016, https://arxiv.org/abs/1603.05027.
    """
    raise NotImplementedError('q18 residual_mlp: write this function (see README.md)')


# Task: graded.
def detect_nonfinite(tree: Any) -> jax.Array:
    """True if any floating-point leaf of ``tree`` holds a NaN or an infinity.

    Integer and boolean leaves can hold neither and are skipped. Jittable: the result is a
    boolean array, so it can drive ``lax.cond`` or ``jnp.where`` (skip a bad update) inside a
    compiled training step.

    Args:
      tree: any pytree of arrays.

    Returns:
      A scalar boolean array.

    Example:
      >>> detect_nonfinite({"w": jnp.array([1.0, jnp.inf]), "step": jnp.array(3)})
      Array(True, dtype=bool)

    References:
      ``chex.assert_tree_all_finite``; ``optax.apply_if_finite``; the ``jax_debug_nans``
      config flag.
    """
    raise NotImplementedError('q18 detect_nonfinite: write this function (see README.md)')
