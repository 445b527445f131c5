"""q24 Performance bottlenecks: gradient accumulation, rematerialization, prefetching and
profiling one step.

accumulate_grads is compared with the full batch and, over five Adam steps, with
``optax.MultiSteps`` (the shared trajectory judge of :mod:`grader.optim_checks`). Residuals
are read from ``jax.ad_checkpoint.print_saved_residuals``. prefetch and profile_step run
case by case with real threads and files; no check measures a clock: the prefetch probes
only poll a counter until a deadline, and the profile is compared with the grader's own
trace of one warm call made in the same process.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import checks as ck
from grader import optim_checks as oc
from grader import props
from grader.spec import Exercise, Failure, FileSpec, case

# ---- accumulate_grads --------------------------------------------------------------------


def _mse(params, batch):
    import jax.numpy as jnp

    pred = jnp.tanh(batch["x"] @ params["w"] + params["b"][None, :])
    return jnp.mean((pred - batch["y"]) ** 2)


def _problem(rng, b=32, **kw):
    params = {"w": ck.normal(rng, (5, 3), 0.5), "b": ck.normal(rng, (3,), 0.1)}
    return case(params, {"x": ck.normal(rng, (b, 5)), "y": ck.normal(rng, (b, 3))},
                label=f'mean((tanh(x @ w + b) - y)**2), B={b}', **kw)


def _vs_full(fns, i):
    import jax

    p, batch = i.args
    return {"full": jax.value_and_grad(_mse)(p, batch),
            "accumulated": fns.accumulate_grads(_mse, p, batch, i.static["_n"])}


def _scans(jaxpr, out):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            out.append(int(eqn.params["length"]))
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else [v]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _scans(inner, out)
    return out


def _structure(fns, i):
    """The scans in the jaxpr of a call with num_micro = 8, and the leading dims loss_fn saw."""
    import jax

    dims = []

    def counted(p, b):
        dims.append([int(x.shape[0]) for x in jax.tree.leaves(b)])
        return _mse(p, b)

    closed = jax.make_jaxpr(lambda p, b: fns.accumulate_grads(counted, p, b, 8))(*i.args)
    return {"scan_lengths": _scans(closed.jaxpr, []), "dims": dims}


def _one_scan_prop(c, out):
    got = out["scan_lengths"]
    return None if got == [8] else (f"the jaxpr holds {len(got)} scans of lengths {got}; "
                                    "expected exactly one lax.scan of length 8 = num_micro")


def _seen_prop(c, out):
    dims = out["dims"]
    if len(dims) > 2:
        return f"loss_fn was traced {len(dims)} times (at most 2 expected): one lax.scan body"
    if any(d != 4 for ds in dims for d in ds):
        return f"loss_fn saw leading dims {dims}; expected only microbatches of 32 / 8 = 4"
    return None


def _multisteps(fns, i):
    import jax
    import optax

    p0, batches = i.args
    tx, ms = optax.adam(1e-2), optax.MultiSteps(optax.adam(1e-2), every_k_schedule=4)
    p, s, q, t, got, ref = p0, tx.init(p0), p0, ms.init(p0), [], []
    for k in range(5):
        batch = jax.tree.map(lambda a, k=k: a[k], batches)
        _, g = fns.accumulate_grads(_mse, p, batch, 4)
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        for m in range(4):
            g = jax.grad(_mse)(q, jax.tree.map(lambda a, m=m: a[8 * m:8 * (m + 1)], batch))
            u, t = ms.update(g, t, q)
            q = optax.apply_updates(q, u)
        got.append(p)
        ref.append(q)
    stack = lambda ps: {"params": jax.tree.map(lambda *v: jax.numpy.stack(v), *ps)}  # noqa: E731
    return {"accumulate_grads": stack(got), "MultiSteps": stack(ref)}


def _multisteps_case(rng):
    c = _problem(rng, 32)
    big = {k: np.stack([ck.normal(rng, v.shape) for _ in range(5)]) for k, v in c.args[1].items()}
    return [case(c.args[0], big, label="5 outer steps of adam(1e-2), num_micro=4, B=32")]


def _trajectories_agree(judge):
    def compare(c, got, ref):
        f = judge(c, got["accumulate_grads"], got["MultiSteps"])
        return f and Failure(f.message.replace("reference", "MultiSteps"), f.hint, f.status)

    return compare


def _raises(fn):
    """A call adapter: "ValueError" if ``fn(fns, i)`` raises one; other exceptions propagate
    (the check reports them as errors, with the learner's line)."""

    def call(fns, i):
        try:
            fn(fns, i)
        except ValueError:
            return "ValueError"
        return "returned without raising"

    return call


_ACC = [
    ck.invariant("accumulate_grads", lambda rng: [_problem(rng, static={"_n": n}) for n in
                                                  (1, 2, 4, 8)],
                 props.equal_parts("full", "accumulated", what="against value_and_grad on the "
                                   "whole batch", rtol=1e-5, atol=1e-7),
                 call=_vs_full, id="matches_full_batch",
                 title="equals the full batch for num_micro 1, 2, 4, 8",
                 hint="reshape every leaf to (num_micro, B // num_micro, ...) (no transpose); "
                 "divide the sums by num_micro: summing multiplies the step by n"),
    ck.invariant("accumulate_grads", lambda rng: [_problem(rng)], _one_scan_prop, call=_structure,
                 id="one_scan", batched=False, title="one lax.scan of length num_micro",
                 hint="a Python loop unrolls n copies; a vmap keeps every microbatch alive at "
                 "once; lax.scan runs them one after the other"),
    ck.invariant("accumulate_grads", lambda rng: [_problem(rng)], _seen_prop, call=_structure,
                 id="microbatch_shape", batched=False,
                 title="loss_fn traced at most twice, on microbatches of B / n",
                 hint="scan over the microbatches and call value_and_grad(loss_fn) on each one"),
    dataclasses.replace(
        ck.invariant("accumulate_grads", _multisteps_case, lambda c, out: None,
                     call=_multisteps, id="matches_multisteps", batched=False,
                     title="5 Adam steps equal optax.MultiSteps(every_k_schedule=4)",
                     description="adam(1e-2) on accumulate_grads(num_micro=4) follows "
                     "MultiSteps(adam(1e-2), 4) fed the four microbatch gradients one by one, "
                     "params compared after every outer step (atol 1e-6, rtol 1e-5)",
                     hint="return grads shaped like params, the mean of the microbatch "
                     "gradients"),
        judge=_trajectories_agree(oc._trajectory_judge(tol_scale=0.5))),
    ck.oracle("accumulate_grads", lambda rng: [_problem(rng, 30, static={"_n": 4})],
              lambda c: "ValueError", id="uneven_raises", batched=False,
              call=_raises(lambda fns, i: fns.accumulate_grads(_mse, *i.args, 4)),
              title="B % num_micro != 0 raises ValueError",
              hint="check B % num_micro before reshaping; never drop or pad examples"),
    ck.forbidden("accumulate_grads"),
]

# ---- recompute_grad and remat ------------------------------------------------------------


def _block(w, x):
    import jax.numpy as jnp

    return jnp.sin(jnp.sin(x @ w) @ w.T)


def _batched_block(w, x):
    import jax.numpy as jnp

    h = jnp.sin(jnp.einsum("bij,jk->bik", x, w))
    return jnp.sum(jnp.sin(jnp.einsum("bik,bjk->bij", h, h)))


def _residuals(fn, *args):
    import contextlib
    import io

    import jax.ad_checkpoint

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        jax.ad_checkpoint.print_saved_residuals(fn, *args)
    return [line.split(" from /")[0].strip() for line in out.getvalue().splitlines()]


def _vjp_both(fns, i):
    import jax

    def run(w, x, cot):
        pairs = {}
        for name, f in (("fn", _block), ("recompute_grad(fn)", fns.recompute_grad(_block))):
            y, vjp = jax.vjp(f, w, x)
            pairs[name] = {"value": y, "cotangents": vjp(cot)}
        return pairs

    return (jax.jit(run) if i.static["_jit"] else run)(*i.args, i.extras["cot"])


def _saved_prop(c, out):
    if not out:
        return "print_saved_residuals printed nothing"
    bad = [line for line in out if "from the argument" not in line]
    return (f"residuals other than the arguments are saved: {bad[:3]}; save args in the forward "
            "rule, never the function jax.vjp returns") if bad else None


def _sins(fns, i):
    import jax

    def count(f):
        return str(jax.make_jaxpr(jax.grad(lambda w, x: f(w, x).sum()))(*i.args)).count(" sin ")

    return {"fn": count(_block), "wrapped": count(fns.recompute_grad(_block))}


def _sins_prop(c, out):
    if out["wrapped"] == 2 * out["fn"]:
        return None
    return (f"sin appears {out['wrapped']} times in the gradient's jaxpr, {out['fn']} without "
            f"the wrapper; a recomputed forward pass doubles it to {2 * out['fn']}")


def _block_case(rng, **kw):
    return case(ck.normal(rng, (4, 6), 0.5), ck.normal(rng, (3, 4)),
                label="sin(sin(x @ w) @ w.T), w (4, 6), x (3, 4)", **kw)


_RECOMPUTE = [
    ck.invariant("recompute_grad", lambda rng: [_block_case(
        rng, static={"_jit": j}, extras={"cot": ck.normal(rng, (3, 4))}) for j in (False, True)],
        props.equal_parts("fn", "recompute_grad(fn)", what="value and VJP against fn's",
                          rtol=1e-6, atol=1e-6),
        call=_vjp_both, id="values_and_grads", batched=False,
        title="same values and VJPs as fn (eager and jit)",
        hint="bwd(fn, args, cotangent) = jax.vjp(fn, *args)[1](cotangent): every argument, the "
        "cotangent you are given"),
    ck.invariant("recompute_grad", lambda rng: [_block_case(rng)], _saved_prop,
                 call=lambda fns, i: _residuals(lambda w, x: fns.recompute_grad(_block)(w, x).sum(),
                                                *i.args),
                 id="saves_only_arguments", batched=False,
                 title="the only residuals are the arguments",
                 hint="the forward rule returns (fn(*args), args)"),
    ck.invariant("recompute_grad", lambda rng: [_block_case(rng)], _sins_prop, call=_sins,
                 id="recomputes_forward", batched=False,
                 title="the backward pass recomputes the forward pass",
                 hint="wrap fn in a jax.custom_vjp whose backward rule calls jax.vjp(fn, *args)"),
    ck.forbidden("recompute_grad"),
]

POLICIES = ("everything_saveable", "nothing_saveable", "dots_saveable",
            "dots_with_no_batch_dims_saveable")


def _policy(name):
    import jax

    if name == "save_only_these_names('none')":
        return jax.checkpoint_policies.save_only_these_names("none")
    return getattr(jax.checkpoint_policies, name)


def _remat_vs_checkpoint(fns, i):
    import jax

    name, (w, x) = i.static["_policy"], i.args
    ours = fns.remat(_batched_block, name if name in POLICIES else _policy(name))
    theirs = jax.checkpoint(_batched_block, policy=_policy(name))
    return {f: {"residuals": _residuals(g, w, x), "grads": jax.grad(g, (0, 1))(w, x)}
            for f, g in (("remat", ours), ("jax.checkpoint", theirs))}


def _remat_case(rng, name):
    return case(ck.normal(rng, (4, 6), 0.5), ck.normal(rng, (2, 3, 4)), static={"_policy": name},
                label=f"policy {name}, a batched and an unbatched einsum")


_REMAT = [
    ck.invariant("remat", lambda rng: [_remat_case(rng, n) for n in
                                       (*POLICIES, "save_only_these_names('none')")],
                 props.equal_parts("jax.checkpoint", "remat", what="residuals and gradients "
                                   "against jax.checkpoint(fn, policy)", rtol=1e-6),
                 call=_remat_vs_checkpoint, id="matches_checkpoint_policy", batched=False,
                 title="residuals and gradients equal jax.checkpoint's, per policy",
                 hint="map each name to jax.checkpoint_policies.<name>; pass callables through; "
                 "jax.checkpoint(fn, policy=policy)"),
    ck.oracle("remat", lambda rng: [_remat_case(rng, "save_everything")],
              lambda c: "ValueError", id="unknown_policy_raises", batched=False,
              call=_raises(lambda fns, i: fns.remat(_batched_block, "save_everything")),
              title="an unknown policy name raises ValueError",
              hint="look names up in your own table of four and raise ValueError otherwise"),
]

# ---- prefetch ----------------------------------------------------------------------------

_DEADLINE = 10.0  # seconds a probe waits for the learner's iterator before calling it a hang


class _Source:
    """An iterator of {"x": (2,) float32 full of i, "i": int32 i} that counts its pulls."""

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
        return {"x": np.full((2,), float(i), np.float32), "i": np.array(i, np.int32)}


def _wait(cond, seconds):
    import time

    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.005)
    return cond()


def _drain(it):
    """Items of ``it`` and the name of what it raised, consumed on a thread with a deadline."""
    import threading

    got, raised = [], [None]

    def run():
        try:
            for item in it:
                got.append(item)
        except Exception as e:  # noqa: BLE001 (reported by name)
            raised[0] = type(e).__name__

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(_DEADLINE)
    return got, ("still waiting after 10 s" if t.is_alive() else raised[0])


def _order(fns, i):
    items, raised = _drain(fns.prefetch(_Source(10), size=3))
    return {"items": items, "raised": raised}


def _bounded(fns, i):
    source = _Source(20)
    it = fns.prefetch(source, size=2)
    first = next(it)
    reached = _wait(lambda: source.pulled >= 3, 5.0)
    most = source.pulled
    for _ in range(100):  # 0.5 s of polling: a producer that runs ahead does so at once
        _wait(lambda: False, 0.005)
        most = max(most, source.pulled)
    getattr(it, "close", lambda: None)()
    return {"first": int(first["i"]), "reached_3": reached, "max_pulled": most}


def _bounded_prop(c, out):
    if out["first"] != 0:
        return f"the first item was item {out['first']}"
    if not out["reached_3"]:
        return ("after the first item was taken the source was pulled fewer than 3 times in "
                "5 s: nothing runs ahead (start a producer thread in prefetch itself)")
    if out["max_pulled"] > 4:
        return (f"the source was pulled {out['max_pulled']} times while the consumer held one "
                "item; at most 1 + size + 1 = 4 (use queue.Queue(maxsize=size))")
    return None


def _reraises(fns, i):
    items, raised = _drain(fns.prefetch(_Source(10, fail_at=3), size=2))
    return {"items": [int(x["i"]) for x in items], "raised": raised}


def _threads(fns, i):
    import threading

    import jax

    jax.block_until_ready(jax.device_put(np.zeros(2)))  # JAX's own threads start first
    before = threading.active_count()
    _drain(fns.prefetch(_Source(10), size=2))
    _wait(lambda: threading.active_count() <= before, 5.0)
    return {"extra_threads": max(0, threading.active_count() - before)}


_ONE = lambda rng: [case(label="a source of 10 {'x': (2,) float32, 'i': int32} items")]  # noqa: E731
_PREFETCH = [
    ck.oracle("prefetch", _ONE, lambda c: {"items": list(_Source(10)), "raised": None}, call=_order,
              exact=True, id="order_and_arrays", batched=False,
              title="every item, in order, as jax.Arrays",
              hint="jax.device_put(item) on the whole pytree; hand every item on, the last too"),
    ck.invariant("prefetch", lambda rng: [case(label="size=2, a source of 20")], _bounded_prop,
                 call=_bounded, id="bounded", batched=False,
                 title="runs ahead, at most size + 1 items beyond the consumer",
                 hint="a daemon thread started in prefetch, putting into "
                 "queue.Queue(maxsize=size)"),
    ck.oracle("prefetch", lambda rng: [case(label="the source raises KeyError at item 3")],
              lambda c: {"items": [0, 1, 2], "raised": "KeyError"}, call=_reraises,
              id="reraises", batched=False, title="re-raises the source's error after the "
              "items before it", hint="catch the error in the producer, put it on the queue, "
              "and raise it in the consumer"),
    ck.oracle("prefetch", _ONE, lambda c: {"extra_threads": 0}, call=_threads,
              id="thread_exits", batched=False, title="the producer thread exits at the end",
              hint="the producer returns after putting the end marker; queue.join() waits for "
              "task_done() calls that never come"),
    ck.oracle("prefetch", lambda rng: [case(label="size=0")], lambda c: "ValueError",
              call=_raises(lambda fns, i: next(iter(fns.prefetch(_Source(3), size=0)))),
              id="size_validation", batched=False,
              title="size < 1 raises ValueError",
              hint="Queue(maxsize=0) is unbounded: reject size < 1 up front"),
    ck.forbidden("prefetch"),
]

# ---- profile_step ------------------------------------------------------------------------


def _summary(run_dir, name):
    import gzip
    import json
    import os

    files = os.listdir(run_dir)
    traces = [f for f in files if f.endswith(".trace.json.gz")]
    events = (json.load(gzip.open(os.path.join(run_dir, traces[0])))["traceEvents"]
              if traces else [])
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    complete = [e for e in events if e.get("ph") == "X"]
    kernels = [e["name"] for e in complete if threads.get((e["pid"], e["tid"]), "").startswith(
        "tf_XLA") or procs.get(e["pid"], "").startswith("/device:")]
    return {"xplane": sum(f.endswith(".xplane.pb") for f in files),
            "trace_json": sum(f.endswith(".trace.json.gz") for f in files),
            "pjit": sum(e["name"] == f"PjitFunction({name})" for e in complete),
            "compiles": sorted({e["name"] for e in complete if "ompil" in e["name"]})[:5],
            "kernels": len(kernels),
            # what XLA's CPU runtime records only once the program has run to its end
            "finished": sorted({k for k in kernels if "completion" in k or k.startswith("end: ")})}


def _profile(fns, i):
    import os
    import random
    import tempfile

    import jax
    import jax.numpy as jnp

    c = random.random()  # a per-run constant: no compilation cache can hold this program

    def _profiled_step(x, w):
        for _ in range(4):
            x = jnp.tanh(x @ w + c)
        return jnp.sum(x)

    step, root = jax.jit(_profiled_step), tempfile.mkdtemp(prefix="q24-profile-")
    x, w = jnp.asarray(i.args[0]), jnp.asarray(i.args[1])
    logdir = os.path.join(root, "logs")
    run = os.path.realpath(str(fns.profile_step(step, (x, w), logdir)))
    inside = os.path.commonpath([run, os.path.realpath(logdir)]) == os.path.realpath(logdir)
    ok = inside and os.path.isdir(run)
    ref_dir = os.path.join(root, "reference")
    with jax.profiler.trace(ref_dir):
        jax.block_until_ready(step(x, w))
    [ref] = [os.path.join(ref_dir, "plugins", "profile", d)
             for d in os.listdir(os.path.join(ref_dir, "plugins", "profile"))]
    return {"run_dir_in_logdir": ok, **(_summary(run, "_profiled_step") if ok else {}),
            "reference": _summary(ref, "_profiled_step")}


def _profile_prop(what):
    def prop(c, o):
        if not o["run_dir_in_logdir"]:
            return "the returned path is not a directory inside logdir"
        return {"files": (o["xplane"], o["trace_json"]) != (1, 1) and f"the run directory holds "
                f"{o['xplane']} .xplane.pb and {o['trace_json']} .trace.json.gz files, not 1 + 1",
                "one_call": o["pjit"] != o["reference"]["pjit"] and f"the trace holds {o['pjit']} "
                f"PjitFunction events for the step; one call gives {o['reference']['pjit']}",
                "no_compile": o["compiles"] and "the trace shows compilation "
                f"({', '.join(o['compiles'])}): call and block once before the trace",
                "blocked": not (set(o["reference"]["finished"]) <= set(o["finished"])
                                and o["kernels"]) and "the trace ends before the step's device "
                f"work does (kernel events {o['kernels']}, end markers {o['finished']}; one "
                f"blocked call gives {o['reference']['finished']})"}[what] or None

    return prop


_PROFILE = [
    ck.invariant("profile_step", lambda rng: [case(ck.normal(rng, (512, 512)),
                                                   ck.normal(rng, (512, 512), 0.044),
                                                   label="jit of 4 tanh(x @ w + c) layers")],
                 _profile_prop(what), call=_profile, id=what, batched=False, title=title,
                 hint=hint)
    for what, title, hint in [
        ("files", "returns the run directory with its two trace files",
         "return logdir/plugins/profile/<run>: the directory of the new .xplane.pb"),
        ("one_call", "traces exactly one call",
         "one jax.block_until_ready(step_fn(*args)) inside jax.profiler.trace(logdir)"),
        ("no_compile", "no compilation in the trace",
         "call and block once before the trace so it holds a warm step"),
        ("blocked", "the device work is inside the trace",
         "block inside the with block: async dispatch returns before the kernels run"),
    ]
]

CHECKS = (*_ACC, *_RECOMPUTE, *_REMAT, *_PREFETCH, *_PROFILE)

EXERCISE = Exercise(
    id="q24",
    title="Performance bottlenecks",
    files={"performance.py": FileSpec(
        tasks=("dlcore.perf.accumulate:accumulate_grads", "dlcore.perf.remat:recompute_grad",
               "dlcore.perf.remat:remat", "dlcore.perf.prefetch:prefetch",
               "dlcore.perf.profile:profile_step"),
        summary="gradient accumulation, rematerialization, prefetching, profiling")},
    checks=CHECKS,
    forbidden={"accumulate_grads": ("optax.MultiSteps",),
               "recompute_grad": ("jax.checkpoint", "jax.remat", "jax.ad_checkpoint",
                                  "flax.nnx.remat"),
               "prefetch": ("flax.jax_utils",)},
)
