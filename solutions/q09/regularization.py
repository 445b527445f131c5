"""q09 Regularization: reference solution.

Generated from dlcore.nn.regularizers, dlcore.optim.adam, dlcore.optim.adamw, dlcore.optim.base, dlcore.optim.weight_decay by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: l1_penalty, l2_penalty, prox_l1, sgd_weight_decay, adamw.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_learning_rate` with a schedule: the step count."""

    count: jax.Array  # shape (), int32


def scale_by_learning_rate(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    *,
    flip_sign: bool = True,
) -> optax.GradientTransformation:
    r"""Multiply updates by :math:`-\eta` (gradient descent) or :math:`+\eta`.

    .. math:: u_t \leftarrow -\eta_t\, u_t

    Args:
      learning_rate: a scalar :math:`\eta`, or a schedule ``count -> eta`` called with the
        number of updates done so far (0 at the first update).
      flip_sign: negate the scale, so that adding the updates to the params descends.

    Returns:
      An ``optax.GradientTransformation``. Its state is ``optax.EmptyState()`` for a scalar
      learning rate and ``ScaleByScheduleState(count)`` for a schedule.

    Example:
      >>> tx = scale_by_learning_rate(0.1)
      >>> updates, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.1,  0.2], dtype=float32)

    References:
      ``optax.scale_by_learning_rate``:
      https://optax.readthedocs.io/en/latest/api/transformations.html
    """
    sign = -1 if flip_sign else 1

    if callable(learning_rate):

        def schedule_init_fn(params):
            del params
            return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

        def schedule_update_fn(updates, state, params=None):
            del params
            step_size = sign * learning_rate(state.count)
            # Cast the step size, not the result, so bfloat16 updates stay bfloat16.
            updates = jax.tree.map(lambda g: jnp.asarray(step_size, g.dtype) * g, updates)
            return updates, ScaleByScheduleState(count=optax.safe_int32_increment(state.count))

        return optax.GradientTransformation(schedule_init_fn, schedule_update_fn)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        updates = jax.tree.map(lambda g: sign * learning_rate * g, updates)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and first and second moments."""

    count: jax.Array  # shape (), int32
    mu: Any
    nu: Any


def _abs_sq(x: jax.Array) -> jax.Array:
    r"""Squared magnitude :math:`|x|^2`, elementwise, real for complex ``x`` (as optax).

    ``x ** 2`` for a real array; ``Re(conj(x) * x)`` for a complex one, where ``x ** 2``
    would be the complex square (not a magnitude) and send an optimizer off course.
    """
    if jnp.iscomplexobj(x):
        return (jnp.conj(x) * x).real
    return x**2


def _bias_correct(moment: Any, decay: jax.typing.ArrayLike, count: jax.Array) -> Any:
    r"""Divide every leaf of ``moment`` by :math:`1 - \mathrm{decay}^{count}`.

    The power is taken in float32 even for bfloat16 moments (:math:`\beta_2^t` rounds to 1
    in bfloat16 and the division would blow up), then cast to each leaf's dtype. The caller
    runs this under ``jax.jit(..., inline=True)``, as optax does: eagerly that makes
    ``decay ** count`` a float power of a traced count (outside ``jit`` a concrete count
    would take ``jnp.power``'s exact repeated multiplication instead, about 1e-6 relative
    away) and compiles the divisions as one program, so eager and jitted updates are
    bitwise those of optax.
    """
    correction = 1 - decay**count
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: jax.typing.DTypeLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""Rescale updates with Adam's bias-corrected moment estimates.

    .. math::
       m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
       v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, |g_t|^2, \\
       \hat m_t = \frac{m_t}{1 - \beta_1^t}, \quad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \quad
       u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

    with :math:`m_0 = v_0 = 0`, :math:`t` counting from 1 and :math:`\epsilon` outside the root.
    Nesterov (NAdam) replaces :math:`\hat m_t` by
    :math:`\beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1)\, g_t / (1 - \beta_1^t)`.

    Complex params are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`, so the
    second moment is real-valued (stored in the params' complex dtype).

    Args:
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, added to the root of :math:`\hat v_t`.
      eps_root: :math:`\epsilon_{root}`, added to :math:`\hat v_t` inside the root.
      mu_dtype: dtype in which the first moment is stored (e.g. ``jnp.bfloat16`` to save
        memory); ``None`` keeps the params' dtype. The update itself is computed before the
        cast, as optax does.
      nesterov: use Nesterov momentum (NAdam).

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)``.

    Example:
      >>> tx = scale_by_adam()
      >>> updates, state = tx.update(jnp.array([1e-3, -5.0]), tx.init(jnp.zeros(2)))
      >>> updates, state.count
      (Array([ 0.9999..., -0.9999...], dtype=float32), Array(1, dtype=int32))

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015; Dozat, `Incorporating Nesterov Momentum
      into Adam <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`_, 2016.
    """

    def init_fn(params):
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * _abs_sq(g) + b2 * v, updates, state.nu)
        count = optax.safe_int32_increment(state.count)
        bias_correct = jax.jit(_bias_correct, inline=True)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: b1 * m + (1 - b1) * g,
                bias_correct(mu, b1, optax.safe_int32_increment(count)),
                bias_correct(updates, b1, count),
            )
        else:
            mu_hat = bias_correct(mu, b1, count)
        nu_hat = bias_correct(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        # The state keeps its dtypes step after step (mu_dtype, else the params'), whatever
        # the hyperparameters' dtype promoted the arithmetic to.
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        nu = jax.tree.map(lambda v, old: v.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def expand_mask(mask: Any, params: Any) -> Any:
    """Turn an optax-style mask into one Python bool per leaf of ``params`` (not jitted).

    ``None`` selects every leaf; a callable is called as ``mask(params)``; a pytree of bools
    may stop at any prefix of ``params`` (a bool then covers the whole subtree), as in
    ``optax.masked``. True means "the penalty or decay applies here".

    Args:
      mask: ``None``, a pytree of bools shaped like ``params`` (or a prefix of it), or a
        callable ``params -> such a pytree``.
      params: the params pytree.

    Returns:
      A pytree with the structure of ``params`` and a Python ``bool`` at every leaf.

    Example:
      >>> expand_mask(lambda p: {"b": False, "w": True}, {"b": jnp.ones(2), "w": jnp.ones(3)})
      {'b': False, 'w': True}

    References:
      ``optax.masked``: https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
    """
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    if callable(mask):
        mask = mask(params)
    # A bool leaf of the mask may stand for a whole subtree of params.
    return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask, params)


def add_decayed_weights(
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""Add ``weight_decay * params`` to the updates of the masked leaves.

    .. math:: u \leftarrow u + \lambda\, \theta \ \text{(masked leaves)}, \qquad
       u \leftarrow u \ \text{(the others)}

    Args:
      weight_decay: the decay :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = decayed), or a
        callable ``params -> pytree of bools``, as in optax.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState()``. Its ``update``
      needs ``params`` and raises ``ValueError`` without them.

    Warning:
      ``optax.add_decayed_weights(wd, mask)`` wraps itself in ``optax.masked``, so its state
      is a ``MaskedState``; this one keeps an ``EmptyState``. The updates are the same.

    Example:
      >>> tx = add_decayed_weights(0.1, mask={"w": True, "b": False})
      >>> params = {"w": jnp.array([2.0]), "b": jnp.array([2.0])}
      >>> tx.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, tx.init(params), params)[0]
      {'b': Array([0.], dtype=float32), 'w': Array([0.2], dtype=float32)}

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019; ``optax.add_decayed_weights``.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights needs the params: call update(g, s, params)")
        flags = expand_mask(mask, params)
        updates = jax.tree.map(
            lambda g, p, f: (g + weight_decay * p).astype(g.dtype) if f else g,
            updates,
            params,
            flags,
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def l1_penalty(
    params: Any,
    lam: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> jax.Array:
    r"""The L1 (lasso) penalty.

    .. math:: R(w) = \lambda \sum_{\text{masked leaves}} \sum_i |w_i|,
       \qquad \nabla R = \lambda\, \mathrm{sign}(w) \ (w \neq 0).

    Args:
      params: a pytree of float arrays.
      lam: the strength :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf), a pytree of bools (True = penalized), or a callable
        ``params -> pytree of bools``, as in optax. Static.

    Returns:
      A float32 scalar.

    Warning:
      ``jax.grad(jnp.abs)(0.0)`` is 1.0, not 0, so a (sub)gradient step never lands a weight
      exactly on zero; use :func:`prox_l1` for that. Keras' ``L1(l)`` is the same formula.

    Example:
      >>> l1_penalty({"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}, 0.5)
      Array(3., dtype=float32)

    References:
      Tibshirani, `Regression Shrinkage and Selection via the Lasso
      <https://doi.org/10.1111/j.2517-6161.1996.tb02080.x>`_, JRSS B, 1996.
    """
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(expand_mask(mask, params))
    total = jnp.zeros([], jnp.float32)
    for flag, leaf in zip(flags, leaves, strict=True):
        if flag:
            total = total + jnp.sum(jnp.abs(leaf))
    return lam * total


def l2_penalty(
    params: Any,
    lam: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> jax.Array:
    r"""The L2 (ridge) penalty with the one-half convention.

    .. math:: R(w) = \tfrac{1}{2}\, \lambda \sum_{\text{masked leaves}} \sum_i w_i^2,
       \qquad \nabla R = \lambda w \text{ on masked leaves, } 0 \text{ elsewhere.}

    The gradient ``lam * w`` is exactly the update of ``optax.add_decayed_weights(lam, mask)``,
    so SGD on ``loss + l2_penalty(params, lam)`` is SGD with weight decay ``lam``.

    Args:
      params: a pytree of float arrays.
      lam: the strength :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = penalized), or
        a callable ``params -> pytree of bools``, as in optax. Static.

    Returns:
      A float32 scalar.

    Warning:
      Keras' ``regularizers.L2(l)`` adds ``l * sum(w**2)`` without the one half, so it equals
      weight decay ``2 * l`` under SGD. PyTorch has no penalty function: its
      ``weight_decay=wd`` adds ``wd * w`` to the gradient, like this one with ``lam = wd``.

    Example:
      >>> params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}
      >>> l2_penalty(params, 0.1)
      Array(0.7, dtype=float32)
      >>> l2_penalty(params, 0.1, mask={"w": True, "b": False})
      Array(0.25, dtype=float32)

    References:
      Krogh and Hertz, `A Simple Weight Decay Can Improve Generalization
      <https://papers.nips.cc/paper/563>`_, NeurIPS 1991; ``optax.add_decayed_weights``.
    """
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(expand_mask(mask, params))
    total = jnp.zeros([], jnp.float32)
    for flag, leaf in zip(flags, leaves, strict=True):
        if flag:
            total = total + jnp.sum(jnp.square(leaf))
    return 0.5 * lam * total


def prox_l1(w: jax.typing.ArrayLike, t: jax.typing.ArrayLike) -> jax.Array:
    r"""Soft-thresholding: the proximal operator of :math:`t\,\|\cdot\|_1`.

    .. math:: \mathrm{prox}_{t\|\cdot\|_1}(w) = \arg\min_z \tfrac12 (z - w)^2 + t |z|
       = \mathrm{sign}(w) \max(|w| - t, 0),

    elementwise. Every entry with :math:`|w| \le t` becomes exactly 0, which is how L1 makes
    weights sparse (ISTA: a gradient step on the smooth loss, then ``prox_l1(w, lr * lam)``).

    Args:
      w: an array of any shape.
      t: the threshold, ``t >= 0`` (may be traced; broadcasts against ``w``).

    Returns:
      An array of the shape and dtype of ``w``.

    Example:
      >>> prox_l1(jnp.array([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]), 1.0)
      Array([-1., -0.,  0.,  0.,  0.,  2.], dtype=float32)

    References:
      Beck and Teboulle, `A Fast Iterative Shrinkage-Thresholding Algorithm
      <https://doi.org/10.1137/080716542>`_, SIAM J. Imaging Sciences, 2009.
    """
    w = jnp.asarray(w)
    shrunk = jnp.maximum(jnp.abs(w) - t, 0).astype(w.dtype)
    return jnp.sign(w) * shrunk


def sgd_weight_decay(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    weight_decay: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""Plain SGD with weight decay on the masked leaves.

    .. math:: \theta \leftarrow \theta - \eta_t\,(g + \lambda\,\theta) \ \text{(masked)},
       \qquad \theta \leftarrow \theta - \eta_t\, g \ \text{(the others)}

    For plain SGD this is the same trajectory as gradient descent on
    ``loss + l2_penalty(params, weight_decay, mask=mask)``.

    Args:
      learning_rate: a scalar :math:`\eta` or an optax schedule ``count -> eta`` (called with
        the 0-based step index).
      weight_decay: :math:`\lambda`.
      mask: as in :func:`add_decayed_weights`.

    Returns:
      An ``optax.GradientTransformation``:
      ``chain(add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``,
      the same as ``optax.chain(optax.add_decayed_weights(wd, mask), optax.sgd(lr))``.

    Warning:
      PyTorch's ``SGD(weight_decay=wd)`` is this update. Keras' ``L2(l)`` penalty has no one
      half, so it equals ``weight_decay = 2 * l``.

    Example:
      >>> tx = sgd_weight_decay(0.1, 0.5)
      >>> params = jnp.array([2.0])
      >>> tx.update(jnp.array([1.0]), tx.init(params), params)[0]
      Array([-0.2], dtype=float32)

    References:
      Hanson and Pratt, `Comparing Biases for Minimal Network Construction with
      Back-Propagation <https://papers.nips.cc/paper/156>`_, NeurIPS 1988.
    """
    return optax.chain(
        add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate)
    )


def adamw(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""AdamW, as ``optax.adamw``: the decay skips Adam's preconditioner.

    .. math:: \theta_t = \theta_{t-1} - \eta_t \left(
       \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, \theta_{t-1} \right)

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of the raw gradient (no
    penalty in it) and the decay only on the masked leaves. :math:`\eta_t` is the
    schedule evaluated at the 0-based step index, and it multiplies the decay too.

    Args:
      learning_rate: a scalar :math:`\eta` or an optax schedule ``count -> eta``.
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, outside the square root.
      weight_decay: :math:`\lambda`.
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = decayed), or a
        callable ``params -> pytree of bools``, as in optax.

    Returns:
      An ``optax.GradientTransformation``:
      ``chain(scale_by_adam, add_decayed_weights, scale_by_learning_rate)``. Its ``update``
      needs ``params``.

    Warning:
      Adam on ``loss + l2_penalty`` is *not* AdamW: there the penalty's gradient is divided
      by :math:`\sqrt{\hat v_t}`, so heavily-updated weights are barely decayed. Defaults
      differ: PyTorch ``AdamW`` uses ``weight_decay=1e-2``, optax and dlcore ``1e-4``; all
      three multiply the decay by the learning rate.

    Example:
      >>> tx = adamw(0.1, weight_decay=0.5)
      >>> params = jnp.array([2.0])
      >>> updates, _ = tx.update(jnp.array([3.0]), tx.init(params), params)
      >>> round(float(updates[0]), 4)  # -0.1 * (Adam's first step ~1 + 0.5 * 2.0)
      -0.2

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019; ``optax.adamw``.
    """
    return optax.chain(
        scale_by_adam(b1, b2, eps=eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
