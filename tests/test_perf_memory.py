"""dlcore.perf memory and pipeline tools pinned to optax.MultiSteps, jax.checkpoint, the profiler.

Covers gradient accumulation, rematerialization (``remat``, ``recompute_grad``),
``prefetch`` and ``profile_step`` (exercise q24).
"""

import contextlib
import functools
import gzip
import io
import json
import os
import threading
import time

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.ad_checkpoint import print_saved_residuals

from dlcore.perf.accumulate import accumulate_grads
from dlcore.perf.prefetch import prefetch
from dlcore.perf.profile import profile_step
from dlcore.perf.remat import recompute_grad, remat

# ---------------------------------------------------------------- accumulate_grads


def _mse(params, batch):
    pred = jnp.tanh(batch["x"] @ params["w"] + params["b"][None, :])
    return jnp.mean((pred - batch["y"]) ** 2)


def _problem(batch_size=32):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"w": jax.random.normal(k1, (5, 3)) * 0.5, "b": jnp.zeros((3,))}
    batch = {
        "x": jax.random.normal(k2, (batch_size, 5)),
        "y": jax.random.normal(k3, (batch_size, 3)),
    }
    return params, batch


def _count_scans(jaxpr):
    """(number of scans, their lengths), searching nested jaxprs too."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            found.append(eqn.params["length"])
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found.extend(_count_scans(sub))
    return found


@pytest.mark.parametrize("num_micro", [1, 2, 4, 8])
def test_accumulate_equals_full_batch(num_micro):
    params, batch = _problem()
    loss, grads = jax.value_and_grad(_mse)(params, batch)
    acc = jax.jit(accumulate_grads, static_argnums=(0, 3))
    got_loss, got_grads = acc(_mse, params, batch, num_micro)
    # Sums of n means in another order: float32 rounding, ~1e-7 relative.
    np.testing.assert_allclose(got_loss, loss, rtol=1e-5)
    for g, e in zip(jax.tree.leaves(got_grads), jax.tree.leaves(grads), strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_accumulate_is_one_scan_and_loss_sees_microbatches():
    params, batch = _problem()
    seen = []

    def counted(p, b):
        seen.append(b["x"].shape[0])
        return _mse(p, b)

    jaxpr = jax.make_jaxpr(lambda p, b: accumulate_grads(counted, p, b, 8))(params, batch)
    assert _count_scans(jaxpr.jaxpr) == [8]
    assert 1 <= len(seen) <= 2 and set(seen) == {4}


def test_accumulate_rejects_uneven_split():
    params, batch = _problem(30)
    with pytest.raises(ValueError):
        accumulate_grads(_mse, params, batch, 4)


def test_accumulate_then_adam_equals_optax_multisteps():
    params, batch = _problem()
    n, tx = 4, optax.adam(1e-2)
    multi = optax.MultiSteps(tx, every_k_schedule=n)
    micro = jax.tree.map(lambda x: x.reshape(n, -1, *x.shape[1:]), batch)

    @jax.jit
    def ours(p, state):
        _, g = accumulate_grads(_mse, p, batch, n)
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    @jax.jit
    def theirs(p, state, mb):
        g = jax.grad(_mse)(p, mb)
        updates, state = multi.update(g, state, p)
        return optax.apply_updates(p, updates), state

    p, state = params, tx.init(params)
    q, mstate = params, multi.init(params)
    for _ in range(5):
        p, state = ours(p, state)
        for k in range(n):
            q, mstate = theirs(q, mstate, jax.tree.map(lambda x, k=k: x[k], micro))
        # Same mean gradient, summed in another order: 1.5e-8 measured.
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(q), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_accumulate_keeps_bfloat16_param_dtype():
    params, batch = _problem()
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    loss_fn = lambda p, b: _mse(jax.tree.map(lambda x: x.astype(jnp.float32), p), b)
    loss, grads = accumulate_grads(loss_fn, params, batch, 4)
    assert loss.dtype == jnp.float32
    assert all(g.dtype == jnp.bfloat16 for g in jax.tree.leaves(grads))


# ---------------------------------------------------------------- remat and recompute_grad


def _residual_lines(fn, *args):
    """print_saved_residuals' lines with source locations removed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(fn, *args)
    return [line.split(" from /")[0].strip() for line in out.getvalue().splitlines()]


def _block(w, x):
    h = jnp.sin(x @ w)
    h = jnp.sin(h @ w.T)
    return jnp.sum(h**2)


def _batched_block(w, x):
    # A batched and an unbatched matmul, so that the four named policies all differ.
    h = jnp.sin(jnp.einsum("bij,jk->bik", x, w))
    return jnp.sum(jnp.sin(jnp.einsum("bik,bjk->bij", h, h)))


def _batched_args():
    k1, k2 = jax.random.split(jax.random.key(2))
    return jax.random.normal(k1, (4, 6)) * 0.5, jax.random.normal(k2, (2, 3, 4))


def _block_args():
    k1, k2 = jax.random.split(jax.random.key(1))
    return jax.random.normal(k1, (4, 6)) * 0.5, jax.random.normal(k2, (3, 4))


def test_recompute_grad_same_values_and_gradients():
    w, x = _block_args()
    f = recompute_grad(_block)
    np.testing.assert_allclose(f(w, x), _block(w, x), rtol=1e-6)
    got = jax.jit(jax.grad(f, argnums=(0, 1)))(w, x)
    expected = jax.grad(_block, argnums=(0, 1))(w, x)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_recompute_grad_keeps_only_arguments_and_recomputes():
    w, x = _block_args()
    lines = _residual_lines(recompute_grad(_block), w, x)
    assert lines and all("from the argument" in line for line in lines)
    assert any("output of" in line for line in _residual_lines(_block, w, x))

    def sins(fn):
        jaxpr = jax.make_jaxpr(jax.grad(fn))(w, x)
        return str(jaxpr).count(" sin ")

    assert sins(recompute_grad(_block)) == 2 * sins(_block) == 4


@pytest.mark.parametrize(
    "name",
    [
        "everything_saveable",
        "nothing_saveable",
        "dots_saveable",
        "dots_with_no_batch_dims_saveable",
    ],
)
def test_remat_matches_jax_checkpoint_with_the_named_policy(name):
    w, x = _batched_args()
    ours = remat(_batched_block, name)
    theirs = jax.checkpoint(_batched_block, policy=getattr(jax.checkpoint_policies, name))
    assert _residual_lines(ours, w, x) == _residual_lines(theirs, w, x)
    for g, e in zip(jax.grad(ours, (0, 1))(w, x), jax.grad(theirs, (0, 1))(w, x), strict=True):
        np.testing.assert_array_equal(g, e)


def test_remat_policies_really_differ_and_callables_pass_through():
    w, x = _batched_args()
    names = ("nothing_saveable", "dots_with_no_batch_dims_saveable", "dots_saveable")
    counts = [len(_residual_lines(remat(_batched_block, n), w, x)) for n in names]
    # arguments only (2); plus the unbatched matmul (3); plus the batched one (4)
    assert counts == [2, 3, 4]
    assert len(_residual_lines(remat(_batched_block, "everything_saveable"), w, x)) == 5
    policy = jax.checkpoint_policies.save_only_these_names("none")
    assert _residual_lines(remat(_batched_block, policy), w, x) == _residual_lines(
        remat(_batched_block, "nothing_saveable"), w, x
    )
    with pytest.raises(ValueError):
        remat(_batched_block, "save_everything")


# ---------------------------------------------------------------- prefetch


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "dlcore-prefetch"]


class _Source:
    """An iterator of pytrees that counts how many items were pulled from it."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at, self.pulled = n, fail_at, 0

    def __iter__(self):
        return self

    def __next__(self):
        i = self.pulled
        if i == self.fail_at:
            raise KeyError(i)
        if i >= self.n:
            raise StopIteration
        self.pulled += 1
        return {"x": np.full((2,), float(i), np.float32), "i": np.int32(i)}


def test_prefetch_keeps_order_values_and_returns_jax_arrays():
    items = list(prefetch(_Source(10), size=3))
    assert [int(item["i"]) for item in items] == list(range(10))
    for i, item in enumerate(items):
        assert isinstance(item["x"], jax.Array) and isinstance(item["i"], jax.Array)
        np.testing.assert_array_equal(item["x"], np.full((2,), float(i), np.float32))
    assert _wait_for(lambda: not _prefetch_threads())


@pytest.mark.parametrize("size", [1, 3])
def test_prefetch_is_bounded_and_runs_ahead(size):
    source = _Source(20)
    it = prefetch(source, size=size)
    # The thread starts at once and fills the queue before anything is taken.
    assert _wait_for(lambda: source.pulled >= size)
    first = next(it)
    assert int(first["i"]) == 0
    # size items in the queue plus one held by the blocked producer.
    assert _wait_for(lambda: source.pulled >= size + 2)
    # Any extra pull would happen right away; a correct producer stays blocked.
    assert not _wait_for(lambda: source.pulled > size + 2, timeout=0.2)
    next(it)
    assert _wait_for(lambda: source.pulled >= size + 3)
    assert not _wait_for(lambda: source.pulled > size + 3, timeout=0.2)
    it.close()
    assert _wait_for(lambda: not _prefetch_threads())


def test_prefetch_reraises_source_error_after_earlier_items():
    it = prefetch(_Source(10, fail_at=3), size=2)
    got = []
    with pytest.raises(KeyError):
        for item in it:
            got.append(int(item["i"]))
    assert got == [0, 1, 2]
    assert _wait_for(lambda: not _prefetch_threads())


def test_prefetch_rejects_empty_queue():
    with pytest.raises(ValueError):
        prefetch(_Source(3), size=0)


# ---------------------------------------------------------------- profile_step


def _events(run_dir):
    (name,) = [f for f in os.listdir(run_dir) if f.endswith(".trace.json.gz")]
    with gzip.open(os.path.join(run_dir, name)) as f:
        return json.load(f)["traceEvents"]


def _summary(events):
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    processes = {
        e["pid"]: e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e.get("name") == "process_name"
    }
    complete = [e for e in events if e.get("ph") == "X"]
    pjit = sum(e["name"] == "PjitFunction(_matmuls)" for e in complete)
    # Kernels run on XLA's runtime threads on CPU (tf_XLAPjRtCpuClient, tf_XLAEigen), and
    # in a "/device:GPU:0"-style process on an accelerator.
    device = sum(
        threads.get((e["pid"], e["tid"]), "").startswith("tf_XLA")
        or processes.get(e["pid"], "").startswith("/device:")
        for e in complete
    )
    compiles = [e["name"] for e in complete if "ompil" in e["name"]]
    return pjit, device, compiles


def _matmuls(x, w):
    for _ in range(4):
        x = jnp.tanh(x @ w)
    return jnp.sum(x)


def test_profile_step_traces_one_warm_blocked_call(tmp_path):
    step = jax.jit(_matmuls)
    x, w = jnp.ones((64, 64)), jnp.eye(64) * 0.5
    run = profile_step(step, (x, w), str(tmp_path))
    assert os.path.commonpath([run, str(tmp_path)]) == str(tmp_path)
    files = sorted(os.listdir(run))
    assert sum(f.endswith(".xplane.pb") for f in files) == 1
    assert sum(f.endswith(".trace.json.gz") for f in files) == 1
    pjit, device, compiles = _summary(_events(run))
    assert compiles == [] and device > 0
    # The reference: our own trace of one warm, blocked call of the same step.
    ref_dir = tmp_path / "reference"
    with jax.profiler.trace(str(ref_dir)):
        jax.block_until_ready(step(x, w))
    (ref_run,) = [str(p) for p in ref_dir.glob("plugins/profile/*")]
    assert pjit == _summary(_events(ref_run))[0] > 0


def test_profile_step_returns_a_new_run_each_time(tmp_path):
    step = jax.jit(functools.partial(_matmuls, w=jnp.eye(8)))
    first = profile_step(step, (jnp.ones((8, 8)),), str(tmp_path))
    second = profile_step(step, [jnp.ones((8, 8))], str(tmp_path))
    assert os.path.isdir(first) and os.path.isdir(second)
    assert any(f.endswith(".xplane.pb") for f in os.listdir(second))
