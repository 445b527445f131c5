"""q06 Optimizers: SGD, RMSprop, Adagrad and Adam as optax transformations, and minibatches.

Graded tasks: sgd, rmsprop, adagrad, adam, minibatches.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q06
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax


# Given: use it as it is.
class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_learning_rate` with a schedule: the step count."""

    count: jax.Array  # shape (), int32


# Given: use it as it is.
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


# Given: use it as it is.
class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer, shaped like the params."""

    trace: Any


# Given: use it as it is.
class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the running mean of squared gradients."""

    nu: Any


# Given: use it as it is.
class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev`: running means of the gradients and their squares."""

    mu: Any
    nu: Any


# Given: use it as it is.
class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared gradients."""

    sum_of_squares: Any


# Given: use it as it is.
class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and first and second moments."""

    count: jax.Array  # shape (), int32
    mu: Any
    nu: Any


# A building block: not graded by itself, but the tasks below may use it.
def trace(
    decay: jax.typing.ArrayLike,
    *,
    nesterov: bool = False,
    accumulator_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformation:
    r"""Accumulate a momentum trace of past updates (no dampening).

    .. math::
       v_t = g_t + \mu\, v_{t-1}, \qquad
       u_t = \begin{cases} g_t + \mu\, v_t & \text{Nesterov} \\ v_t & \text{otherwise}
       \end{cases}

    with :math:`v_0 = 0`. Complex updates work unchanged (the trace is linear).

    Args:
      decay: the momentum :math:`\mu`.
      nesterov: use Nesterov's look-ahead form.
      accumulator_dtype: dtype in which the trace is stored; ``None`` keeps the params'.

    Returns:
      An ``optax.GradientTransformation`` with state ``TraceState(trace)``.

    Warning:
      PyTorch's ``SGD`` has a ``dampening`` option (``v = mu * v + (1 - dampening) * g``);
      dlcore, like optax, has none (``dampening=0``). TensorFlow/Keras keep a velocity of
      ``-lr * g`` instead of ``g``; the two agree only for a constant learning rate.

    Example:
      >>> tx = trace(0.9)
      >>> state = tx.init(jnp.zeros(2))
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates
      Array([1.9, 1.9], dtype=float32)

    References:
      Sutskever et al., `On the importance of initialization and momentum in deep learning
      <https://proceedings.mlr.press/v28/sutskever13.html>`_, 2013.
    """
    raise NotImplementedError('q06 trace: write this function (see README.md)')


# A building block: not graded by itself, but the tasks below may use it.
def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse root of a running mean of squared gradients.

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
       u_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    with :math:`\nu_0` = ``initial_scale`` (0) and :math:`\epsilon` inside the square root
    (``eps_in_sqrt=False``: :math:`u_t = g_t / (\sqrt{\nu_t} + \epsilon)`). Complex
    gradients are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`.

    Args:
      decay: the decay :math:`\rho` of the running mean.
      eps: :math:`\epsilon`, added to :math:`\nu_t` under the square root.
      initial_scale: the starting value :math:`\nu_0` of the running mean.
      eps_in_sqrt: put ``eps`` inside the root (optax, TensorFlow 1) or outside (PyTorch).

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRmsState(nu)``.

    Warning:
      PyTorch's ``RMSprop`` (and Keras') adds ``eps`` outside the root,
      ``g / (sqrt(nu) + eps)``; for gradients below about ``sqrt(eps)`` = 1e-4 the two
      differ by orders of magnitude. PyTorch's default ``alpha`` (our ``decay``) is 0.99.

    Example:
      >>> tx = scale_by_rms(0.9)
      >>> updates, _ = tx.update(jnp.array([1.0, -3.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([ 3.1622..., -3.1622...], dtype=float32)

    References:
      Hinton, `Neural Networks for Machine Learning, lecture 6e
      <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_, 2012.
    """
    raise NotImplementedError('q06 scale_by_rms: write this function (see README.md)')


# A building block: not graded by itself, but the tasks below may use it.
def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    *,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse of a running standard deviation (centered RMSprop).

    .. math:: \mu_t = \rho\, \mu_{t-1} + (1 - \rho)\, g_t, \quad
       \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \quad
       u_t = \frac{g_t}{\sqrt{\nu_t - |\mu_t|^2 + \epsilon}}

    with :math:`\mu_0 = 0`, :math:`\nu_0` = ``initial_scale``; complex gradients as in
    :func:`scale_by_rms`.

    Args:
      decay: the decay :math:`\rho` of both running means.
      eps: :math:`\epsilon`, added under the square root (or outside, see ``eps_in_sqrt``).
      initial_scale: the starting value :math:`\nu_0`.
      eps_in_sqrt: put ``eps`` inside the root (optax) or outside (PyTorch).

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRStdDevState(mu, nu)``.

    Example:
      >>> tx = scale_by_stddev(0.9)
      >>> updates, _ = tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))
      >>> updates  # 1 / sqrt(0.1 - 0.01)
      Array([3.3333...], dtype=float32)

    References:
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013, eq. 38-41; ``optax.scale_by_stddev``.
    """
    raise NotImplementedError('q06 scale_by_stddev: write this function (see README.md)')


# A building block: not graded by itself, but the tasks below may use it.
def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1, *, eps: jax.typing.ArrayLike = 1e-7
) -> optax.GradientTransformation:
    r"""Scale updates by the inverse root of the sum of squared gradients so far.

    .. math:: G_t = G_{t-1} + |g_t|^2, \qquad
       u_t = \begin{cases} g_t / \sqrt{G_t + \epsilon} & G_t > 0 \\ 0 & G_t = 0 \end{cases}

    with :math:`G_0` = ``initial_accumulator_value`` and :math:`\epsilon` inside the root.
    Complex gradients are supported as in optax: :math:`|g|^2 = \mathrm{Re}(\bar g g)`.

    Args:
      initial_accumulator_value: the starting value :math:`G_0` of the accumulator.
      eps: :math:`\epsilon`, added to :math:`G_t` under the square root.

    Returns:
      An ``optax.GradientTransformation`` with state ``ScaleByRssState(sum_of_squares)``.

    Warning:
      PyTorch's ``Adagrad`` starts the accumulator at 0 and adds ``eps=1e-10`` outside the
      root, ``g / (sqrt(G) + eps)``; Keras starts at 0.1 but also adds ``eps`` outside.

    Example:
      >>> tx = scale_by_rss(0.0)
      >>> updates, _ = tx.update(jnp.array([3.0, 0.0]), tx.init(jnp.zeros(2)))
      >>> bool(jnp.isclose(updates[0], 1.0))  # 3 / sqrt(9 + eps)
      True
      >>> updates[1]  # its accumulator saw only a zero gradient, so it is still exactly 0
      Array(0., dtype=float32)

    References:
      Duchi, Hazan and Singer, `Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, 2011.
    """
    raise NotImplementedError('q06 scale_by_rss: write this function (see README.md)')


# A building block: not graded by itself, but the tasks below may use it.
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
    raise NotImplementedError('q06 scale_by_adam: write this function (see README.md)')


# Task: graded.
def sgd(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    momentum: jax.typing.ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    accumulator_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformation:
    r"""Stochastic gradient descent with optional momentum, as ``optax.sgd``.

    .. math:: v_t = g_t + \mu\, v_{t-1}, \qquad \theta_t = \theta_{t-1} - \eta_t\, v_t

    (Nesterov: :math:`\theta_t = \theta_{t-1} - \eta\,(g_t + \mu\, v_t)`.)

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      momentum: the momentum :math:`\mu`; a Python 0 (the default) keeps no trace at all.
      nesterov: use Nesterov momentum.
      accumulator_dtype: dtype of the momentum buffer; ``None`` keeps the params'.

    Returns:
      An ``optax.GradientTransformation``: ``chain(trace, scale_by_learning_rate)``, or just
      ``scale_by_learning_rate`` without momentum.

    Warning:
      No ``dampening`` (PyTorch has the option; its default 0 matches) and the learning rate
      multiplies the trace, it is not folded into it (as TensorFlow/Keras does).

    Example:
      >>> tx = sgd(0.1, 0.9)
      >>> params = jnp.array([1.0, -1.0])
      >>> updates, state = tx.update(2 * params, tx.init(params))
      >>> updates
      Array([-0.2,  0.2], dtype=float32)

    References:
      Polyak, `Some methods of speeding up the convergence of iteration methods
      <https://doi.org/10.1016/0041-5553(64)90137-5>`_, 1964; ``optax.sgd``.
    """
    raise NotImplementedError('q06 sgd: write this function (see README.md)')


# Task: graded.
def rmsprop(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: jax.typing.ArrayLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""The RMSprop optimizer, as ``optax.rmsprop``.

    .. math:: \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, |g_t|^2, \qquad
       \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{\nu_t + \epsilon}}

    ``centered=True`` divides by a running standard deviation instead
    (:func:`scale_by_stddev`); ``momentum`` adds a :func:`trace` of the scaled steps
    *after* the learning rate, as optax (and PyTorch) do:
    :math:`b_t = \mu\, b_{t-1} - \eta_t\, g_t / \sqrt{\cdot}`, :math:`\theta_t =
    \theta_{t-1} + b_t`. Complex params are supported as in optax (:math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      decay: the decay :math:`\rho` of the running mean of squared gradients.
      eps: :math:`\epsilon`, inside the square root.
      initial_scale: the starting value :math:`\nu_0` of the running mean.
      eps_in_sqrt: put ``eps`` inside the root (default) or outside (PyTorch).
      centered: normalize by the running variance, :math:`\nu_t - \mu_t^2`.
      momentum: the momentum :math:`\mu` of a trace after the scaling; ``None`` keeps none.
      nesterov: use Nesterov momentum in that trace.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_rms, scale_by_learning_rate)``
      (``scale_by_stddev`` when centered), with ``trace`` appended when ``momentum`` is set.

    Warning:
      ``eps`` sits inside the square root by default (as optax and TensorFlow 1); PyTorch
      and Keras add it outside (``eps_in_sqrt=False`` here), so their trajectories differ for
      small gradients. Without momentum the chain has two links where ``optax.rmsprop``'s has
      three (an identity), so the states differ in structure though the updates are equal.

    Example:
      >>> tx = rmsprop(0.01)
      >>> updates, _ = tx.update(jnp.array([1.0, -3.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.03162...,  0.03162...], dtype=float32)

    References:
      Hinton, `Neural Networks for Machine Learning, lecture 6e
      <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_, 2012;
      ``optax.rmsprop``.
    """
    raise NotImplementedError('q06 rmsprop: write this function (see README.md)')


# Task: graded.
def adagrad(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformation:
    r"""The Adagrad optimizer, as ``optax.adagrad``.

    .. math:: G_t = G_{t-1} + |g_t|^2, \qquad
       \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{G_t + \epsilon}}

    Complex params are supported as in optax (the accumulator sums :math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta``.
      initial_accumulator_value: the starting value :math:`G_0` of the accumulator.
      eps: :math:`\epsilon`, inside the square root.

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_rss, scale_by_learning_rate)``.

    Warning:
      The accumulator starts at 0.1 (PyTorch: 0) and ``eps`` sits inside the root (PyTorch
      and Keras: outside), so the first steps differ from PyTorch's.

    Example:
      >>> tx = adagrad(1.0)
      >>> updates, _ = tx.update(jnp.array([0.3, -0.3]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.6882...,  0.6882...], dtype=float32)

    References:
      Duchi, Hazan and Singer, `Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, 2011;
      ``optax.adagrad``.
    """
    raise NotImplementedError('q06 adagrad: write this function (see README.md)')


# Task: graded.
def adam(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: jax.typing.DTypeLike | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    r"""The Adam optimizer, as ``optax.adam``.

    .. math:: \theta_t = \theta_{t-1} - \eta_t\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of :func:`scale_by_adam`.
    Complex params are supported as in optax (the second moment accumulates
    :math:`|g|^2`).

    Args:
      learning_rate: a scalar :math:`\eta` or a schedule ``count -> eta`` (e.g. an
        ``optax.warmup_cosine_decay_schedule``), called with the number of updates so far.
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, outside the square root.
      eps_root: :math:`\epsilon_{root}`, inside the square root (default 0).
      mu_dtype: dtype in which the first moment is stored; ``None`` keeps the params'.
      nesterov: use Nesterov momentum (NAdam, ``optax.nadam``).

    Returns:
      An ``optax.GradientTransformation``: ``chain(scale_by_adam, scale_by_learning_rate)``.

    Warning:
      The first step is about ``-learning_rate * sign(g)`` whatever the gradient's size
      (bias correction makes :math:`\hat m_1 / \sqrt{\hat v_1} = g / |g|`). ``eps`` is
      outside the root as in the paper, PyTorch and Keras (optax's ``eps_root`` would go
      inside); Keras' default ``eps`` is 1e-7.

    Example:
      >>> tx = adam(0.1)
      >>> updates, _ = tx.update(jnp.array([1e-3, -5.0]), tx.init(jnp.zeros(2)))
      >>> updates
      Array([-0.09999...,  0.09999...], dtype=float32)

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015; ``optax.adam``.
    """
    raise NotImplementedError('q06 adam: write this function (see README.md)')


# Task: graded.
def minibatches(key: jax.Array, num_examples: int, batch_size: int) -> jax.Array:
    r"""Indices of one shuffled epoch, cut into equal batches; the remainder is dropped.

    With :math:`\pi` a uniform random permutation of :math:`\{0, \dots, n - 1\}` and
    :math:`k = \lfloor n / b \rfloor`, batch :math:`i` is
    :math:`(\pi_{ib}, \dots, \pi_{ib + b - 1})` for :math:`i < k`; the last
    :math:`n - kb` examples of the permutation are left out of this epoch.

    Args:
      key: a ``jax.random.key``; use a fresh one each epoch.
      num_examples: the data set size :math:`n` (static under ``jit``).
      batch_size: the batch size :math:`b > 0` (static under ``jit``).

    Returns:
      A ``(num_examples // batch_size, batch_size)`` int32 array of distinct indices.

    Warning:
      Like PyTorch's ``DataLoader(shuffle=True, drop_last=True)``; PyTorch's default
      ``drop_last=False`` keeps a smaller last batch, which would change shapes and
      recompile a jitted step.

    Example:
      >>> batches = minibatches(jax.random.key(0), 10, 3)
      >>> batches.shape, batches.dtype
      ((3, 3), dtype('int32'))
      >>> bool(jnp.unique(batches).size == 9)
      True

    References:
      ``jax.random.permutation``:
      https://docs.jax.dev/en/latest/_autosummary/jax.random.permutation.html
    """
    raise NotImplementedError('q06 minibatches: write this function (see README.md)')
