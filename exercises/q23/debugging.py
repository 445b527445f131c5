"""q23 Debugging: gradient checks, checkify, logging from jit, overfitting one batch, and a training loop to fix.

Graded tasks: grad_check, find_nonfinite, jit_logger, overfit_one_batch, train_step, train, evaluate.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q23
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.experimental import checkify
from jax.flatten_util import ravel_pytree


# Given: use it as it is.
def dropout(
    key: jax.Array, x: jax.typing.ArrayLike, rate: float, *, deterministic: bool = False
) -> jax.Array:
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest up.

    ``keep ~ Bernoulli(1 - rate)`` elementwise and ``y = where(keep, x / (1 - rate), 0)``, so
    ``E[y] = x`` and nothing changes at test time. Bitwise equal to ``flax.nnx.Dropout``
    called with the same raw key (``nnx.Dropout(rate)(x, deterministic=False, rngs=key)``).

    Args:
      key: a ``jax.random.key``; used once.
      x: inputs, any shape.
      rate: probability of dropping an entry, a Python float in ``[0, 1]``; static under jit.
      deterministic: if True return ``x`` unchanged (evaluation); static.

    Returns:
      Array of the shape and dtype of ``x``. ``x`` itself when ``deterministic`` or
      ``rate == 0``; zeros (with zero gradient, never NaN) when ``rate == 1``.

    Warning:
      This is inverted dropout, what PyTorch, TensorFlow and Flax do: scale by
      ``1 / (1 - rate)`` while training, identity at test time. The original paper's form
      (no scaling in training, multiply by ``1 - rate`` at test time) gives the same
      expectation but is not what frameworks implement. ``rate`` is the drop probability,
      not Keras 1 / early TensorFlow's ``keep_prob``.

    Example:
      >>> y = dropout(jax.random.key(0), jnp.ones(8), 0.5)
      >>> bool(jnp.all((y == 0) | (y == 2)))
      True

    References:
      Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15, 2014, https://jmlr.org/papers/v15/srivastava14a.html;
      ``flax.nnx.Dropout``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {rate!r}")
    x = jnp.asarray(x)
    if deterministic or rate == 0.0:
        return x
    if rate == 1.0:
        # x / 0 would put NaN in the gradient; the output does not depend on x at all.
        return jnp.zeros_like(x)
    keep_prob = 1.0 - rate
    keep = jax.random.bernoulli(key, keep_prob, x.shape)
    return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


# Given: use it as it is.
def init_mlp(key: jax.Array, sizes: tuple[int, int, int] = (64, 64, 10)) -> dict[str, jax.Array]:
    """He-normal weights and zero biases for a one-hidden-layer MLP.

    Args:
      key: a ``jax.random.key``; split once per weight matrix.
      sizes: ``(D, H, C)``: inputs, hidden units, classes; static.

    Returns:
      ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``, float32, with
      ``w ~ N(0, 2 / fan_in)``.

    Example:
      >>> p = init_mlp(jax.random.key(0))
      >>> p["w1"].shape, p["b2"].shape
      ((64, 64), (10,))

    References:
      He et al., "Delving Deep into Rectifiers", https://arxiv.org/abs/1502.01852, 2015.
    """
    d, h, c = sizes
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (d, h)) * jnp.sqrt(2.0 / d),
        "b1": jnp.zeros((h,)),
        "w2": jax.random.normal(k2, (h, c)) * jnp.sqrt(2.0 / h),
        "b2": jnp.zeros((c,)),
    }


# Given: use it as it is.
def mlp_apply(
    params: dict[str, jax.Array],
    x: jax.typing.ArrayLike,
    *,
    key: jax.Array | None,
    rate: float,
    deterministic: bool,
) -> jax.Array:
    """Logits of ``relu(x W1 + b1)``, with dropout on the hidden layer, times ``W2`` plus ``b2``.

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``.
      x: ``(B, D)`` inputs.
      key: a ``jax.random.key`` for the dropout mask, used once; may be ``None`` when
        ``deterministic``.
      rate: dropout rate; static.
      deterministic: True turns dropout off (evaluation); static.

    Returns:
      ``(B, C)`` logits (never probabilities).

    Example:
      >>> p = init_mlp(jax.random.key(0), (4, 8, 3))
      >>> mlp_apply(p, jnp.ones((2, 4)), key=None, rate=0.5, deterministic=True).shape
      (2, 3)

    References:
      Srivastava et al., "Dropout", JMLR 15, 2014,
      https://jmlr.org/papers/v15/srivastava14a.html.
    """
    # Explicit [None, :]: the bias broadcast also passes jax_numpy_rank_promotion="raise".
    h = jax.nn.relu(jnp.asarray(x) @ params["w1"] + params["b1"][None, :])
    h = dropout(key, h, rate, deterministic=deterministic)
    return h @ params["w2"] + params["b2"][None, :]


# Given: use it as it is.
def buggy_train_step(
    key: jax.Array,
    params: Any,
    opt_state: Any,
    batch: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, Any, jax.Array]:
    """One optimizer step on a batch ``(x, labels)``. Deliberately buggy: fix it as ``train_step``.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> tx = optax.sgd(0.1)
      >>> batch = (jnp.ones((2, 4)), jnp.array([0, 2]))
      >>> _, _, loss = buggy_train_step(jax.random.key(1), p, tx.init(p), batch, tx=tx, rate=0.1)
      >>> loss.shape
      ()
    """
    x, labels = batch

    def loss_fn(p):
        logits = mlp_apply(p, x, key=key, rate=rate, deterministic=False)
        log_probs = jnp.log(jax.nn.softmax(logits))
        picked = jax.nn.one_hot(labels, logits.shape[-1]) * log_probs
        return -jnp.sum(jnp.mean(picked, axis=-1))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


# Given: use it as it is.
def buggy_train(
    key: jax.Array,
    params: Any,
    batches: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, jax.Array]:
    """Scan ``buggy_train_step`` over stacked batches ``(xs, labels)``. Deliberately buggy.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> batches = (jnp.ones((5, 2, 4)), jnp.zeros((5, 2), jnp.int32))
      >>> _, losses = buggy_train(jax.random.key(1), p, batches, tx=optax.sgd(0.1), rate=0.1)
      >>> losses.shape
      (5,)
    """

    def body(carry, batch):
        params, opt_state = carry
        params, opt_state, loss = buggy_train_step(key, params, opt_state, batch, tx=tx, rate=rate)
        return (params, opt_state), loss

    (params, _), losses = jax.lax.scan(body, (params, tx.init(params)), batches)
    return params, losses


# Given: use it as it is.
def buggy_evaluate(params: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Accuracy on a batch ``(x, labels)``. Deliberately buggy: fix it as ``evaluate``.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> buggy_evaluate(p, (jnp.ones((2, 4)), jnp.array([0, 2]))).shape
      ()
    """
    x, labels = batch
    logits = mlp_apply(params, x, key=jax.random.key(0), rate=0.5, deterministic=False)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


# Task: graded.
def grad_check(f: Callable[..., jax.Array], params: Any, *args: Any, eps: float = 1e-4) -> float:
    r"""Largest relative error between ``jax.grad(f)`` and central differences.

    With ``p`` the flattened ``params``, ``e_i`` the i-th unit vector, ``g = grad f(p)`` and

    .. math:: n_i = \frac{f(p + \epsilon e_i) - f(p - \epsilon e_i)}{2 \epsilon},

    the result is :math:`\max_i |g_i - n_i| / \max(1, |g_i|, |n_i|)`. The central
    difference has error :math:`O(\epsilon^2)`; the one-sided one has :math:`O(\epsilon)`.
    The ``2 N`` perturbed evaluations run as one ``lax.map``, each on a fresh copy, so
    ``params`` is never modified. Not jitted (returns a Python float).

    Args:
      f: scalar function ``f(params, *args)``; differentiable in ``params``.
      params: a pytree of floating arrays, the point where the gradient is checked. The
        check works in its dtype: pass float64 (under x64) for a meaningful answer.
      *args: further arguments passed unchanged to ``f``.
      eps: the step :math:`\epsilon`.

    Returns:
      The largest relative error, a Python float. About 1e-8 in float64 for a correct
      gradient; around 1e-1 for a hand-written VJP that is 10% off.

    Warning:
      Autodiff is exact, so this check is for hand-written ``custom_vjp``/``custom_jvp``
      rules, not for ordinary JAX code. In float32 the rounding error of ``f`` divided by
      ``2 eps`` (about 1e-3 here) hides real mistakes: check in float64.

    Example:
      >>> grad_check(lambda p: jnp.sum(jnp.sin(p["w"])), {"w": jnp.arange(3.0)}) < 1e-3
      True

    References:
      ``jax.test_util.check_grads``; ``chex.assert_numerical_grads``; CS231n notes,
      "Gradient checks", https://cs231n.github.io/neural-networks-3/#gradcheck.
    """
    raise NotImplementedError('q23 grad_check: write this function (see README.md)')


# Task: graded.
def find_nonfinite(fn: Callable[..., Any], *args: Any) -> str | None:
    """Run ``fn(*args)`` with NaN and division checks; say what went wrong, if anything.

    In order:

    1. ``checkify.checkify(fn, errors=checkify.float_checks)`` instruments every primitive
       (also inside ``jit`` and nested ``jit``) and reports the first that made a NaN
       (``'nan generated by primitive: log.'``) or divided by zero
       (``'division by zero'``). That message, ``err.get()``, is returned as is.
    2. checkify does not look for ``inf``: if it found nothing but an output leaf holds a
       non-finite value (an overflow such as ``exp(100.)`` in float32), the result is
       ``"non-finite output"``.
    3. Otherwise ``None``.

    Not jitted (returns a Python value); ``fn`` itself may be jitted. The JAX configuration
    (``jax_debug_nans``) is not touched.

    Args:
      fn: the function to run.
      *args: its arguments.

    Returns:
      checkify's message, ``"non-finite output"``, or ``None``.

    Warning:
      A NaN in an intermediate is found even when the output is finite, as in
      ``where(x > 0, log(x), 0)`` for ``x < 0``, whose gradient is NaN. Checking only the
      outputs misses it; so does ``checkify.checkify(fn)`` with its default
      ``user_checks``, which reports nothing here.

    Example:
      >>> find_nonfinite(jnp.log, -1.0)
      'nan generated by primitive: log.'
      >>> find_nonfinite(jnp.exp, jnp.float32(100.0))
      'non-finite output'
      >>> find_nonfinite(jnp.sin, 1.0) is None
      True

    References:
      ``jax.experimental.checkify``,
      https://docs.jax.dev/en/latest/debugging/checkify_guide.html.
    """
    raise NotImplementedError('q23 find_nonfinite: write this function (see README.md)')


# Task: graded.
def jit_logger(
    step_fn: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]],
) -> tuple[Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]], list[dict[str, float]]]:
    """Wrap a training step so that every execution appends its metrics to a list.

    ``logged_fn(state, batch)`` calls ``step_fn(state, batch) -> (state, metrics)``, returns
    its outputs untouched, and stages ``jax.debug.callback(..., ordered=True)`` that appends
    ``{name: float(value)}`` to ``log`` on the host. Because the callback is part of the
    computation, it runs on every *execution*: eagerly, under ``jit`` (once per call, not
    once per trace) and inside ``lax.scan`` (once per iteration), in program order.

    Args:
      step_fn: ``step_fn(state, batch) -> (state, metrics)``; ``metrics`` is a dict of
        scalars.

    Returns:
      ``(logged_fn, log)``: the wrapped step, with the same outputs bit for bit, and the
      list it appends to. Callbacks run asynchronously: call ``jax.effects_barrier()``
      before reading ``log``.

    Warning:
      A Python ``print`` or ``log.append`` inside a jitted function runs once, at trace
      time, and sees tracers. ``jax.pure_callback`` whose result is unused is removed as
      dead code and logs nothing. Use ``jax.debug.callback`` (or ``jax.debug.print``).

    Example:
      >>> step = lambda s, b: (s + b, {"loss": s * b})
      >>> logged, log = jit_logger(step)
      >>> _ = jax.lax.scan(lambda s, b: logged(s, b), 1.0, jnp.arange(3.0))
      >>> jax.effects_barrier()
      >>> log
      [{'loss': 0.0}, {'loss': 1.0}, {'loss': 4.0}]

    References:
      ``jax.debug.callback``,
      https://docs.jax.dev/en/latest/debugging/print_breakpoint.html;
      "External callbacks", https://docs.jax.dev/en/latest/external-callbacks.html.
    """
    raise NotImplementedError('q23 jit_logger: write this function (see README.md)')


# Task: graded.
def overfit_one_batch(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batch: Any,
    *,
    tx: optax.GradientTransformation,
    steps: int,
) -> tuple[Any, jax.Array]:
    """Train on a single batch for ``steps`` optax steps, in one jitted ``lax.scan``.

    Step ``i``: ``loss_i, g = value_and_grad(loss_fn)(params, batch)``, then
    ``updates, opt_state = tx.update(g, opt_state, params)`` and
    ``params = optax.apply_updates(params, updates)``, starting from
    ``opt_state = tx.init(params)``. A model that cannot drive the loss on one small batch
    close to zero has a bug (wrong labels, a detached layer, a bad learning rate).

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: initial parameters, any pytree.
      batch: one batch, any pytree; the same on every step.
      tx: an optax optimizer; static.
      steps: the number of updates; static.

    Returns:
      ``(params, losses)``: the parameters after ``steps`` updates and the ``(steps,)``
      losses, ``losses[i]`` being the loss *before* update ``i`` (so ``losses[0]`` is the
      initial loss, about ``ln C`` for ``C`` balanced classes at a sensible init).

    Example:
      >>> loss = lambda p, b: jnp.sum((p - b) ** 2)
      >>> p, losses = overfit_one_batch(loss, jnp.zeros(2), jnp.ones(2), tx=optax.sgd(0.25),
      ...                               steps=3)
      >>> losses
      Array([2.   , 0.5  , 0.125], dtype=float32)

    References:
      Karpathy, "A Recipe for Training Neural Networks", 2019,
      https://karpathy.github.io/2019/04/25/recipe/; ``optax`` training loop,
      https://optax.readthedocs.io/en/latest/getting_started.html.
    """
    raise NotImplementedError('q23 overfit_one_batch: write this function (see README.md)')


# Task: graded.
def train_step(
    key: jax.Array,
    params: Any,
    opt_state: Any,
    batch: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, Any, jax.Array]:
    r"""One optimizer step of the dropout MLP on a batch ``(x, labels)``.

    .. math:: L = \frac{1}{B} \sum_b -\mathrm{log\_softmax}(z_b)_{y_b},
       \quad z = \mathrm{mlp\_apply}(\theta, x; \text{key}, \text{rate})

    computed from the logits with ``optax.softmax_cross_entropy_with_integer_labels``
    (stable for logits of size 1e4), then ``tx.update`` and ``optax.apply_updates``.

    Args:
      key: a ``jax.random.key`` for this step's dropout mask; used once.
      params: MLP parameters, as ``mlp_apply`` takes them.
      opt_state: ``tx``'s state.
      batch: ``(x, labels)``, shapes ``(B, D)`` and ``(B,)`` int.
      tx: an optax optimizer; static.
      rate: dropout rate; static.

    Returns:
      ``(params, opt_state, loss)``; ``loss`` is the batch-mean loss *before* the update.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> tx = optax.sgd(0.1)
      >>> batch = (jnp.ones((2, 4)), jnp.array([0, 2]))
      >>> _, _, loss = train_step(jax.random.key(1), p, tx.init(p), batch, tx=tx, rate=0.0)
      >>> round(float(loss), 4)  # ln 3: the logits are all equal
      1.0986

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``,
      https://optax.readthedocs.io/en/latest/api/losses.html.
    """
    raise NotImplementedError('q23 train_step: write this function (see README.md)')


# Task: graded.
def train(
    key: jax.Array,
    params: Any,
    batches: tuple[jax.Array, jax.Array],
    *,
    tx: optax.GradientTransformation,
    rate: float,
) -> tuple[Any, jax.Array]:
    """Run ``train_step`` over stacked batches in one ``lax.scan``, a fresh key per step.

    Step ``i`` uses ``jax.random.fold_in(key, i)``, so two runs with the same key give the
    same trajectory and no two steps share a dropout mask. The optimizer starts from
    ``tx.init(params)``.

    Args:
      key: a ``jax.random.key``; only folded, never used directly.
      params: initial MLP parameters.
      batches: ``(xs, labels)`` with a leading step axis: ``(S, B, D)`` and ``(S, B)``.
      tx: an optax optimizer; static.
      rate: dropout rate; static.

    Returns:
      ``(params, losses)``: final parameters and the ``(S,)`` per-step losses.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.ones((8, 3)),
      ...      "b2": jnp.zeros(3)}
      >>> batches = (jnp.ones((5, 2, 4)), jnp.zeros((5, 2), jnp.int32))
      >>> _, losses = train(jax.random.key(1), p, batches, tx=optax.sgd(0.1), rate=0.1)
      >>> bool(losses[-1] < losses[0])
      True

    References:
      ``jax.random.fold_in``,
      https://docs.jax.dev/en/latest/_autosummary/jax.random.fold_in.html.
    """
    raise NotImplementedError('q23 train: write this function (see README.md)')


# Task: graded.
def evaluate(params: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Accuracy on a batch ``(x, labels)`` with dropout off (``deterministic=True``).

    Args:
      params: MLP parameters.
      batch: ``(x, labels)``, shapes ``(B, D)`` and ``(B,)`` int.

    Returns:
      A float32 scalar in ``[0, 1]``; the same on every call.

    Example:
      >>> p = {"w1": jnp.ones((4, 8)), "b1": jnp.zeros(8), "w2": jnp.eye(8, 3),
      ...      "b2": jnp.zeros(3)}
      >>> evaluate(p, (jnp.ones((2, 4)), jnp.array([0, 2])))
      Array(0.5, dtype=float32)

    References:
      ``flax.nnx.Dropout`` (``deterministic=True`` at evaluation),
      https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/stochastic.html.
    """
    raise NotImplementedError('q23 evaluate: write this function (see README.md)')
