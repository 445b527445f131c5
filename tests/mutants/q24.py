"""Known-wrong and correct-but-different performance code for the q24 grader.

Check ids and the property each one grades (stub file ``performance.py``):

accumulate_grads (loss_fn = mean((tanh(x @ w + b) - y)**2) over the microbatch; params
{"w": (5, 3), "b": (3,)}; batch {"x": (32, 5), "y": (32, 3)} drawn N(0, 1)):
- ``accumulate_grads/matches_full_batch``: for num_micro in {1, 2, 4, 8}, jitted with
  loss_fn and num_micro static: loss and every grad leaf equal ``jax.value_and_grad`` on
  the whole batch (same shape and dtype; rtol 1e-5, atol 1e-7).
- ``accumulate_grads/one_scan``: ``jax.make_jaxpr`` of the call with num_micro = 8 holds
  exactly one ``scan`` (nested jaxprs searched too) and its ``length`` param is 8.
- ``accumulate_grads/microbatch_shape``: a Python counter in loss_fn, num_micro = 8: traced
  at most twice, and every leading dim it sees is 4.
- ``accumulate_grads/matches_multisteps``: 5 outer steps of adam(1e-2) on accumulate_grads
  (num_micro = 4) equal ``optax.MultiSteps(adam(1e-2), every_k_schedule=4)`` fed the
  gradients of the 4 consecutive microbatches of 8, params compared after every outer
  step, atol 1e-6 (measured 1.5e-8).
- ``accumulate_grads/uneven_raises``: B = 30, num_micro = 4 raises ValueError.
- ``accumulate_grads/forbidden``: no ``optax.MultiSteps``.

recompute_grad (fn(w, x) = sin(sin(x @ w) @ w.T), w (4, 6) and x (3, 4) drawn N(0, 1) and
scaled by 0.5 and 1):
- ``recompute_grad/values_and_grads``: values equal fn's (rtol 1e-6); ``jax.vjp`` of the
  wrapped fn with a cotangent drawn N(0, 1) of shape (3, 4) gives the same cotangents for w
  and x as ``jax.vjp(fn)`` (rtol 1e-6, atol 1e-6), eagerly and under jit.
- ``recompute_grad/saves_only_arguments``: ``jax.ad_checkpoint.print_saved_residuals`` of
  sum(wrapped(w, x)) (stdout captured) prints at least one line and every line contains
  "from the argument".
- ``recompute_grad/recomputes_forward``: in ``str(jax.make_jaxpr(jax.grad(g)))`` for
  g = sum(wrapped(w, x)), " sin " occurs twice as often as for sum(fn(w, x)) (4 vs 2).
- ``recompute_grad/forbidden``: no ``jax.checkpoint``, ``jax.remat``,
  ``jax.ad_checkpoint``, ``flax.nnx.remat``.

remat (fn(w, x) = sum(sin(einsum("bik,bjk->bij", h, h))), h = sin(einsum("bij,jk->bik", x,
w)); w (4, 6), x (2, 3, 4)):
- ``remat/matches_checkpoint_policy``: for each of the four names, and for the callable
  ``save_only_these_names("none")``: the lines of ``print_saved_residuals`` (each cut at
  " from /", the source location) equal those of ``jax.checkpoint(fn, policy=...)``, and
  ``jax.grad`` w.r.t. both arguments is equal (rtol 1e-6). The four names give 5, 2, 4 and
  3 lines.
- ``remat/unknown_policy_raises``: ``remat(fn, "save_everything")`` raises ValueError.

prefetch (unbatched; the source is an iterator that counts its pulls and yields
{"x": float32 (2,) full of i, "i": int32 i}):
- ``prefetch/order_and_arrays``: ``list(prefetch(source_of_10, size=3))``: 10 items, item
  i has i and its x values, every leaf a ``jax.Array``.
- ``prefetch/bounded``: size = 2, a source of 20: after ``next()`` returned item 0, the pull
  count reaches >= 3 within 5 s, and stays <= 4 while the consumer waits (polled for 0.5 s).
- ``prefetch/reraises``: a source that raises KeyError when item 3 is pulled: the consumer
  gets items 0, 1, 2 and then KeyError (within a 10 s deadline).
- ``prefetch/thread_exits``: after the 10 items are consumed, ``threading.active_count()``
  returns to its value before the call within 5 s.
- ``prefetch/size_validation``: ``prefetch(source, size=0)`` raises ValueError, at the call or at
  the first ``next`` (other exceptions propagate and are reported as errors).
- ``prefetch/forbidden``: no ``flax.jax_utils``.

profile_step (step = jit of four tanh(x @ w + c) layers on 512x512, c a per-run constant):
- ``profile_step/files``: the returned path is a directory inside logdir holding exactly
  one ``*.xplane.pb`` and one ``*.trace.json.gz``.
- ``profile_step/one_call``: the number of ``PjitFunction(<name>)`` complete events in the
  trace equals that of the grader's own trace of one warm, blocked call (2 on jax 0.10.2 CPU).
- ``profile_step/no_compile``: no event name contains "ompil".
- ``profile_step/blocked``: the kernel events (threads named "tf_XLA...", or "/device:"
  processes) include every end-of-execution marker of the grader's own one-call trace
  (names holding "completion" or starting with "end: ": ``ThunkExecutor::Execute (wait for
  completion)``, ``end: <fusion>`` on jax 0.10.2 CPU), and at least one kernel event. An
  unblocked call of the 512x512 step leaves the trace with 0 to 3 start events and no end
  marker; "any kernel event" alone let it through about one run in five.

Note for spec writers: ``tests.grading.splice`` keeps a top-level function's body but not its
decorators, so the custom_vjp mutants below build ``jax.custom_vjp(f, nondiff_argnums=(0,))``
by assignment instead of with ``@functools.partial(...)``.
"""

from tests.grading import Alternative, Mutant

_ACC = "loss_fn, params, batch, num_micro"

MUTANTS = [
    # accumulate_grads
    Mutant("accumulate_sums_gradients", "accumulate_grads",
           "accumulate_grads/matches_full_batch", f"""
def accumulate_grads({_ACC}):
    loss, grads = _original_accumulate_grads(loss_fn, params, batch, num_micro)
    return loss, jax.tree.map(lambda g: g * num_micro, grads)
"""),
    Mutant("accumulate_python_loop", "accumulate_grads", "accumulate_grads/one_scan", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    if size % num_micro:
        raise ValueError("uneven")
    m = size // num_micro
    total_loss, total = 0.0, jax.tree.map(jnp.zeros_like, params)
    for k in range(num_micro):
        mb = jax.tree.map(lambda x: x[k * m:(k + 1) * m], batch)
        loss, grads = jax.value_and_grad(loss_fn)(params, mb)
        total_loss = total_loss + loss
        total = jax.tree.map(jnp.add, total, grads)
    return total_loss / num_micro, jax.tree.map(lambda g: g / num_micro, total)
"""),
    Mutant("accumulate_vmap", "accumulate_grads", "accumulate_grads/one_scan", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    if size % num_micro:
        raise ValueError("uneven")
    micro = jax.tree.map(lambda x: x.reshape(num_micro, -1, *x.shape[1:]), batch)
    losses, grads = jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0))(params, micro)
    return jnp.mean(losses), jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)
"""),
    Mutant("accumulate_feature_major_reshape", "accumulate_grads",
           "accumulate_grads/matches_full_batch", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    if size % num_micro:
        raise ValueError("uneven")
    # reads the (B, F) leaves as feature-major: each microbatch row mixes several examples
    micro = jax.tree.map(
        lambda x: jnp.reshape(x.T, (num_micro, size // num_micro) + x.shape[1:]), batch
    )

    def step(carry, mb):
        loss, grads = jax.value_and_grad(loss_fn)(params, mb)
        return jax.tree.map(jnp.add, carry, (loss, grads)), None

    zeros = (jnp.zeros(()), jax.tree.map(jnp.zeros_like, params))
    (loss, grads), _ = jax.lax.scan(step, zeros, micro)
    return loss / num_micro, jax.tree.map(lambda g: g / num_micro, grads)
"""),
    Mutant("accumulate_drops_remainder", "accumulate_grads", "accumulate_grads/uneven_raises", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    keep = size - size % num_micro
    batch = jax.tree.map(lambda x: x[:keep], batch)
    return _original_accumulate_grads(loss_fn, params, batch, num_micro)
"""),
    Mutant("accumulate_last_microbatch_loss", "accumulate_grads",
           "accumulate_grads/matches_full_batch", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    _, grads = _original_accumulate_grads(loss_fn, params, batch, num_micro)
    last = jax.tree.map(lambda x: x[size - size // num_micro:], batch)
    return loss_fn(params, last), grads
"""),
    Mutant("accumulate_whole_batch_in_scan", "accumulate_grads",
           "accumulate_grads/microbatch_shape", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    if size % num_micro:
        raise ValueError("uneven")

    def step(carry, _):
        return carry, None

    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    (loss, grads), _ = jax.lax.scan(step, (loss, grads), None, length=num_micro)
    return loss, grads
"""),
    Mutant("accumulate_returns_leaf_list", "accumulate_grads",
           "accumulate_grads/matches_multisteps", f"""
def accumulate_grads({_ACC}):
    loss, grads = _original_accumulate_grads(loss_fn, params, batch, num_micro)
    return loss, jax.tree.leaves(grads)  # right numbers, but not shaped like params
"""),
    Mutant("accumulate_with_multisteps", "accumulate_grads",
           "accumulate_grads/forbidden", f"""
import optax


def accumulate_grads({_ACC}):
    tx = optax.MultiSteps(optax.identity(), every_k_schedule=num_micro)
    del tx
    return _original_accumulate_grads(loss_fn, params, batch, num_micro)
""", status="forbidden"),
    # recompute_grad
    Mutant("recompute_saves_vjp_closure", "recompute_grad",
           "recompute_grad/saves_only_arguments", """
def _closure_impl(fn, *args):
    return fn(*args)


_closure_call = jax.custom_vjp(_closure_impl, nondiff_argnums=(0,))


def _closure_fwd(fn, *args):
    out, vjp_fn = jax.vjp(fn, *args)
    return out, vjp_fn  # the residuals are every activation vjp_fn closes over


def _closure_bwd(fn, vjp_fn, cotangent):
    return vjp_fn(cotangent)


_closure_call.defvjp(_closure_fwd, _closure_bwd)


def recompute_grad(fn):
    return lambda *args: _closure_call(fn, *args)
"""),
    Mutant("recompute_plain_function", "recompute_grad", "recompute_grad/recomputes_forward", """
def recompute_grad(fn):
    return fn
"""),
    Mutant("recompute_ignores_cotangent", "recompute_grad", "recompute_grad/values_and_grads",
           """
import jax.numpy as jnp


def _ones_impl(fn, *args):
    return fn(*args)


_ones_call = jax.custom_vjp(_ones_impl, nondiff_argnums=(0,))


def _ones_fwd(fn, *args):
    return fn(*args), args


def _ones_bwd(fn, args, cotangent):
    out, vjp_fn = jax.vjp(fn, *args)
    return vjp_fn(jnp.ones_like(out))  # right for grad of a scalar, wrong in general


_ones_call.defvjp(_ones_fwd, _ones_bwd)


def recompute_grad(fn):
    return lambda *args: _ones_call(fn, *args)
"""),
    Mutant("recompute_first_argument_only", "recompute_grad", "recompute_grad/values_and_grads",
           """
import jax.numpy as jnp


def _first_impl(fn, *args):
    return fn(*args)


_first_call = jax.custom_vjp(_first_impl, nondiff_argnums=(0,))


def _first_fwd(fn, *args):
    return fn(*args), args


def _first_bwd(fn, args, cotangent):
    _, vjp_fn = jax.vjp(lambda a: fn(a, *args[1:]), args[0])
    return vjp_fn(cotangent) + tuple(jnp.zeros_like(a) for a in args[1:])


_first_call.defvjp(_first_fwd, _first_bwd)


def recompute_grad(fn):
    return lambda *args: _first_call(fn, *args)
"""),
    Mutant("recompute_via_checkpoint", "recompute_grad", "recompute_grad/forbidden", """
def recompute_grad(fn):
    return jax.checkpoint(fn)
""", status="forbidden"),
    # remat
    Mutant("remat_ignores_policy", "remat", "remat/matches_checkpoint_policy", """
def remat(fn, policy):
    if isinstance(policy, str) and not hasattr(jax.checkpoint_policies, policy):
        raise ValueError(policy)
    return jax.checkpoint(fn)
"""),
    Mutant("remat_swaps_dot_policies", "remat", "remat/matches_checkpoint_policy", """
def remat(fn, policy):
    swap = {"dots_saveable": "dots_with_no_batch_dims_saveable",
            "dots_with_no_batch_dims_saveable": "dots_saveable"}
    if isinstance(policy, str):
        policy = swap.get(policy, policy)
    return _original_remat(fn, policy)
"""),
    Mutant("remat_does_nothing", "remat", "remat/matches_checkpoint_policy", """
def remat(fn, policy):
    if isinstance(policy, str) and not hasattr(jax.checkpoint_policies, policy):
        raise ValueError(policy)
    return fn
"""),
    Mutant("remat_unknown_name_falls_back", "remat", "remat/unknown_policy_raises", """
def remat(fn, policy):
    if isinstance(policy, str):
        policy = getattr(jax.checkpoint_policies, policy, None)
    return jax.checkpoint(fn, policy=policy)
"""),
    # prefetch
    Mutant("prefetch_unbounded_queue", "prefetch", "prefetch/bounded", """
import queue
import threading


def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError(size)
    buffer = queue.Queue()

    def produce():
        for item in iterator:
            buffer.put(("item", jax.device_put(item)))
        buffer.put(("done", None))

    threading.Thread(target=produce, daemon=True).start()

    def consume():
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            yield value

    return consume()
"""),
    Mutant("prefetch_no_thread", "prefetch", "prefetch/bounded", """
def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError(size)
    return (jax.device_put(item) for item in iterator)
"""),
    Mutant("prefetch_swallows_error", "prefetch", "prefetch/reraises", """
import queue
import threading


def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError(size)
    buffer = queue.Queue(maxsize=size)

    def produce():
        try:
            for item in iterator:
                buffer.put(("item", jax.device_put(item)))
        except Exception:
            pass  # the consumer just sees the stream end early
        buffer.put(("done", None))

    threading.Thread(target=produce, daemon=True).start()

    def consume():
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            yield value

    return consume()
"""),
    Mutant("prefetch_drops_last_item", "prefetch", "prefetch/order_and_arrays", """
import queue
import threading


def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError(size)
    buffer = queue.Queue(maxsize=size)

    def produce():
        it = iter(iterator)
        item = next(it, None)
        for following in it:
            buffer.put(jax.device_put(item))
            item = following
        buffer.put(None)  # the held item never goes out

    threading.Thread(target=produce, daemon=True).start()

    def consume():
        while (item := buffer.get()) is not None:
            yield item

    return consume()
"""),
    Mutant("prefetch_numpy_items", "prefetch", "prefetch/order_and_arrays", """
import numpy as np


def prefetch(iterator, size=2):
    for item in _original_prefetch(iterator, size):
        yield jax.tree.map(np.asarray, item)
"""),
    Mutant("prefetch_queue_join_hangs", "prefetch", "prefetch/thread_exits", """
import queue
import threading


def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError(size)
    buffer = queue.Queue(maxsize=size)

    def produce():
        for item in iterator:
            buffer.put(jax.device_put(item))
        buffer.put(None)
        buffer.join()  # waits for task_done() calls that never come

    threading.Thread(target=produce, daemon=True).start()

    def consume():
        while (item := buffer.get()) is not None:
            yield item

    return consume()
"""),
    Mutant("prefetch_no_size_check", "prefetch", "prefetch/size_validation", """
def prefetch(iterator, size=2):
    return _original_prefetch(iterator, max(size, 1))
"""),
    Mutant("prefetch_flax_utils", "prefetch", "prefetch/forbidden", """
from flax import jax_utils


def prefetch(iterator, size=2):
    return jax_utils.prefetch_to_device(iterator, size)
""", status="forbidden"),
    # profile_step
    Mutant("profile_no_warmup", "profile_step", "profile_step/no_compile", """
import glob
import os


def profile_step(step_fn, args, logdir):
    with jax.profiler.trace(logdir):
        jax.block_until_ready(step_fn(*args))
    runs = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*")))
    return runs[-1]
"""),
    Mutant("profile_not_blocked", "profile_step", "profile_step/blocked", """
import glob
import os


def profile_step(step_fn, args, logdir):
    jax.block_until_ready(step_fn(*args))
    with jax.profiler.trace(logdir):
        out = step_fn(*args)
    jax.block_until_ready(out)
    runs = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*")))
    return runs[-1]
"""),
    Mutant("profile_two_calls", "profile_step", "profile_step/one_call", """
import glob
import os


def profile_step(step_fn, args, logdir):
    jax.block_until_ready(step_fn(*args))
    with jax.profiler.trace(logdir):
        jax.block_until_ready(step_fn(*args))
        jax.block_until_ready(step_fn(*args))
    runs = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*")))
    return runs[-1]
"""),
    Mutant("profile_returns_logdir", "profile_step", "profile_step/files", """
def profile_step(step_fn, args, logdir):
    _original_profile_step(step_fn, args, logdir)
    return logdir
"""),
]

ALTERNATIVES = [
    Alternative("accumulate_strided_partition", "accumulate_grads", f"""
def accumulate_grads({_ACC}):
    size = jax.tree.leaves(batch)[0].shape[0]
    if size % num_micro != 0:
        raise ValueError(f"{{size}} % {{num_micro}} != 0")
    # microbatch k holds examples k, k + n, k + 2n, ...: another fixed partition
    micro = jax.tree.map(
        lambda x: jnp.swapaxes(x.reshape(size // num_micro, num_micro, *x.shape[1:]), 0, 1),
        batch,
    )

    def step(carry, mb):
        loss, grads = jax.value_and_grad(loss_fn)(params, mb)
        loss_sum, grad_sum = carry
        return (loss_sum + loss, jax.tree.map(jnp.add, grad_sum, grads)), None

    init = (jnp.float32(0.0), jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params))
    (loss, grads), _ = jax.lax.scan(step, init, micro)
    return loss / num_micro, jax.tree.map(
        lambda g, p: (g / num_micro).astype(p.dtype), grads, params
    )
"""),
    Alternative("recompute_grad_closure_inside", "recompute_grad", """
def recompute_grad(fn):
    @jax.custom_vjp
    def wrapped(*args):
        return fn(*args)

    def fwd(*args):
        return fn(*args), args

    def bwd(args, cotangent):
        return jax.vjp(fn, *args)[1](cotangent)

    wrapped.defvjp(fwd, bwd)
    return wrapped
"""),
    Alternative("remat_getattr_whitelist", "remat", """
def remat(fn, policy):
    names = ("everything_saveable", "nothing_saveable", "dots_saveable",
             "dots_with_no_batch_dims_saveable")
    if not callable(policy):
        if policy not in names:
            raise ValueError(f"unknown policy {policy!r}")
        policy = getattr(jax.checkpoint_policies, policy)
    return jax.checkpoint(fn, policy=policy)
"""),
    Alternative("prefetch_sentinel_object", "prefetch", """
import queue
import threading


def prefetch(iterator, size=2):
    if size < 1:
        raise ValueError("size must be >= 1")
    buffer = queue.Queue(maxsize=size)
    end = object()

    def produce():
        try:
            for item in iterator:
                buffer.put(jax.device_put(item))
        except Exception as error:
            buffer.put(error)
            return
        buffer.put(end)

    threading.Thread(target=produce, daemon=True).start()

    def consume():
        while True:
            item = buffer.get()
            if item is end:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    return consume()
"""),
    Alternative("profile_newest_run_dir", "profile_step", """
import glob
import os


def profile_step(step_fn, args, logdir):
    out = step_fn(*args)
    jax.block_until_ready(out)
    with jax.profiler.trace(logdir):
        out = step_fn(*args)
        jax.block_until_ready(out)
    files = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    return os.path.dirname(max(files, key=os.path.getmtime))
"""),
]
