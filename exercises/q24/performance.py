"""q24 Performance bottlenecks: gradient accumulation, rematerialization, prefetching, profiling.

Graded tasks: accumulate_grads, recompute_grad, remat, prefetch, profile_step.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q24
"""

import functools
import glob
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp


# Task: graded.
def accumulate_grads(
    loss_fn: Callable[[Any, Any], jax.Array], params: Any, batch: Any, num_micro: int
) -> tuple[jax.Array, Any]:
    r"""Mean loss and gradient over ``num_micro`` equal microbatches, one at a time.

    The batch (every leaf's leading axis, size ``B``) is cut into ``n = num_micro``
    consecutive chunks of ``B / n`` examples; a ``lax.scan`` runs
    ``value_and_grad(loss_fn)`` on one chunk per iteration and adds the results into
    float32 accumulators, and the result is

    .. math:: L = \frac{1}{n} \sum_k L_k, \qquad g = \frac{1}{n} \sum_k \nabla L_k .

    For a ``loss_fn`` that averages over its examples this equals ``value_and_grad`` on the
    whole batch, while only one microbatch's activations are alive at a time: the peak
    memory is that of a batch of ``B / n``.

    Args:
      loss_fn: ``loss_fn(params, microbatch) -> scalar``, a mean over the microbatch.
      params: a pytree of floating arrays.
      batch: a pytree whose leaves share the leading dimension ``B``.
      num_micro: ``n``, a Python int dividing ``B``; static under jit.

    Returns:
      ``(loss, grads)``: the float32 mean loss, and the mean gradients with the structure
      and dtypes of ``params`` (summed in float32, or float64 for float64 params).

    Raises:
      ValueError: if ``B % num_micro != 0``.

    Warning:
      Equal to the big batch only when examples do not interact: BatchNorm statistics are
      computed per microbatch, so a BatchNorm model sees ``n`` small batches. Summing
      instead of averaging multiplies the effective learning rate by ``n``. This is what
      ``optax.MultiSteps(tx, every_k_schedule=n)`` feeds ``tx``; MultiSteps spreads the
      microbatches over ``n`` calls instead of one scan.

    Example:
      >>> loss = lambda w, b: jnp.mean((b[:, 0] * w - b[:, 1]) ** 2)
      >>> data = jnp.stack([jnp.arange(4.0), 2 * jnp.arange(4.0)], axis=1)
      >>> l_full, g_full = jax.value_and_grad(loss)(1.0, data)
      >>> l, g = accumulate_grads(loss, 1.0, data, 2)
      >>> bool(jnp.allclose(l, l_full)), bool(jnp.allclose(g, g_full))
      (True, True)

    References:
      ``optax.MultiSteps``,
      https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html#optax.MultiSteps;
      ``jax.lax.scan``.
    """
    raise NotImplementedError('q24 accumulate_grads: write this function (see README.md)')


# Task: graded.
def recompute_grad(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so that its backward pass recomputes the forward pass from the arguments.

    Built with ``jax.custom_vjp``: the forward rule returns ``fn(*args)`` and saves only
    ``args``; the backward rule calls ``jax.vjp(fn, *args)`` again and applies it to the
    cotangent. So ``fn``'s intermediates are never stored between the passes (a ``sin``
    in ``fn`` runs twice per gradient evaluation instead of once), which is what
    ``jax.checkpoint(fn, policy=nothing_saveable)`` does.

    Args:
      fn: a function of array arguments (differentiable in all of them).

    Returns:
      ``wrapped(*args) = fn(*args)``, with the same values and gradients.

    Warning:
      ``fn`` must not close over traced values that you differentiate (the weights of an
      enclosing ``grad``): ``custom_vjp`` does not differentiate through closures, so pass
      such values as arguments. ``jax.checkpoint`` has no such limit; it is what to use in
      practice. Keyword arguments are not supported.

    Example:
      >>> f = recompute_grad(lambda x, y: jnp.sum(jnp.sin(x) * y))
      >>> jax.grad(f)(jnp.zeros(2), jnp.ones(2))
      Array([1., 1.], dtype=float32)

    References:
      ``jax.custom_vjp``, https://docs.jax.dev/en/latest/notebooks/Custom_derivative_rules_for_Python_code.html;
      ``tf.recompute_grad``.
    """
    raise NotImplementedError('q24 recompute_grad: write this function (see README.md)')


# Task: graded.
def remat(fn: Callable[..., Any], policy: str | Callable[..., bool]) -> Callable[..., Any]:
    """``jax.checkpoint(fn, policy=...)`` with the policy given by name or as a callable.

    A policy decides, for each intermediate of ``fn``'s forward pass, whether the backward
    pass may keep it (a residual) or must recompute it from the saved inputs:

    - ``"everything_saveable"``: keep every residual (the same as no checkpoint);
    - ``"nothing_saveable"``: keep only the arguments, recompute the rest;
    - ``"dots_saveable"``: keep the outputs of matmuls (``dot_general``), recompute the
      cheap elementwise work;
    - ``"dots_with_no_batch_dims_saveable"``: keep only matmul outputs without batch
      dimensions.

    Values and gradients never change; only memory and compute do.

    Args:
      fn: the function to checkpoint.
      policy: one of the four names above, or a policy callable such as
        ``jax.checkpoint_policies.save_only_these_names("h")``.

    Returns:
      The checkpointed function.

    Raises:
      ValueError: for any other name (or a non-callable policy).

    Example:
      >>> f = remat(lambda x: jnp.sin(jnp.sin(x)), "nothing_saveable")
      >>> bool(jnp.allclose(jax.grad(f)(1.0), jnp.cos(jnp.sin(1.0)) * jnp.cos(1.0)))
      True

    References:
      ``jax.checkpoint``, https://docs.jax.dev/en/latest/gradient-checkpointing.html;
      Chen et al., "Training Deep Nets with Sublinear Memory Cost",
      https://arxiv.org/abs/1604.06174, 2016.
    """
    raise NotImplementedError('q24 remat: write this function (see README.md)')


# Task: graded.
def prefetch(iterator: Iterable[Any], size: int = 2) -> Iterator[Any]:
    """Iterate over ``iterator`` with up to ``size`` items already copied to the device.

    A daemon thread pulls items from the source, calls ``jax.device_put`` on each (any
    pytree) and puts it into a ``queue.Queue(maxsize=size)``; the returned iterator takes
    them out in their original order. While the accelerator runs step ``t``, the host is
    already reading and transferring batch ``t + 1``. The queue bounds memory: at most
    ``size`` items wait in it, plus one held by the producer waiting for room, so after
    the consumer has taken ``k`` items the source has been pulled at most ``k + size + 1``
    times. The thread starts at once.

    If the source raises, the consumer receives every item produced before the error and
    then the same exception. Closing the iterator early (``break`` then garbage collection,
    or ``.close()``) stops the thread. Not jitted.

    Args:
      iterator: any iterable of pytrees of arrays.
      size: the queue bound, at least 1.

    Returns:
      An iterator of the same items as ``jax.Array`` pytrees, in order.

    Raises:
      ValueError: if ``size < 1``.

    Warning:
      ``flax.jax_utils.prefetch_to_device`` uses no thread: it only keeps ``size`` items
      dispatched ahead and shards each over local devices for ``pmap``. Reading or
      decoding on the host still blocks the training loop there; a thread (or
      ``tf.data``/Grain workers) is what overlaps it.

    Example:
      >>> items = list(prefetch(iter([{"x": 1.0}, {"x": 2.0}]), size=1))
      >>> [float(i["x"]) for i in items], type(items[0]["x"]).__name__
      ([1.0, 2.0], 'ArrayImpl')

    References:
      ``flax.jax_utils.prefetch_to_device``,
      https://flax.readthedocs.io/en/latest/api_reference/flax.jax_utils.html;
      ``queue.Queue``, https://docs.python.org/3/library/queue.html.
    """
    raise NotImplementedError('q24 prefetch: write this function (see README.md)')


# Task: graded.
def profile_step(step_fn: Callable[..., Any], args: Sequence[Any], logdir: str) -> str:
    """Trace exactly one warm, blocked call of ``step_fn(*args)``; return the run directory.

    1. One warm-up call, blocked with ``jax.block_until_ready``, so that tracing and XLA
       compilation happen before the trace and do not show in it.
    2. ``with jax.profiler.trace(logdir): jax.block_until_ready(step_fn(*args))``: one call,
       blocked inside the trace, so the device work is recorded (with asynchronous dispatch
       an unblocked call returns before its kernels run, and they fall outside the trace).
    3. The profiler writes ``logdir/plugins/profile/<run>/<host>.xplane.pb`` (open it in
       XProf/TensorBoard) and ``<host>.trace.json.gz`` (Perfetto, ``chrome://tracing``);
       the result is that ``<run>`` directory.

    Not jitted; ``step_fn`` usually is.

    Args:
      step_fn: the step to profile, for example a jitted training step.
      args: its positional arguments, a tuple.
      logdir: the directory the profiler writes under (created if missing).

    Returns:
      The run directory holding the new ``.xplane.pb``, as a string.

    Raises:
      RuntimeError: if the profiler wrote no new ``.xplane.pb``.

    Warning:
      ``cProfile`` and wall-clock timers are misleading under asynchronous dispatch: a
      jitted call returns at once and the device time is charged to whatever blocks later
      (often ``float(loss)`` or the next host transfer). Block before timing, and profile
      with ``jax.profiler`` (or ``torch.profiler`` in PyTorch).

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as logdir:
      ...     run = profile_step(jax.jit(lambda x: x @ x), (jnp.ones((8, 8)),), logdir)
      ...     sorted(name.split(".", 1)[1] for name in os.listdir(run))
      ['trace.json.gz', 'xplane.pb']

    References:
      ``jax.profiler.trace``, https://docs.jax.dev/en/latest/profiling.html;
      XProf, https://openxla.org/xprof.
    """
    raise NotImplementedError('q24 profile_step: write this function (see README.md)')
