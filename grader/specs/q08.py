"""q08 Transfer learning with Flax NNX: a new head, freezing by filters, fine-tuning.

The checkpoint is the committed ``backbone.npz`` (a ``DigitsCNN(10)`` pretrained on the ten
digits of one half of scikit-learn's digits); the parent hands its bytes to the worker
(``fns.data["backbone"]``) and the probes load it with the given ``load_pretrained(...,
source=)``. The target is "digit > 4" on the other half, 10 shots per class; the parent
draws it (``_target``, the same split and draw as ``digits_transfer_data`` and
``few_shot_indices``). Modules never travel: probes return snapshots of arrays. Each task
is graded with the grader's own versions of the other tasks (``_grader_step``, its own head
replacement), except the TRAIN checks, which chain the learner's pieces.
"""

from __future__ import annotations

import io

import numpy as np

from grader import checks as ck
from grader import props
from grader.judge import compare_trees
from grader.spec import Exercise, FileSpec, case

TASKS = ("replace_head", "freeze_labels", "make_finetune_optimizer", "finetune_step")
SEEDS, STEPS = (0, 1, 2), 150
_LABEL_DICT = {"head": {"w": 1.0}, "headroom": {"w": 2.0}, "b": {"head": [3.0, 4.0]}}
_LABELS_WANT = {"head": {"w": "trainable"}, "headroom": {"w": "frozen"},
                "b": {"head": ["trainable", "trainable"]}}


def _target(seed, shots=10):
    """10 shots per class of "digit > 4" on the target half, and the rest as the test set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images, labels = (d.images / 16.0).astype(np.float32)[..., None], d.target.astype(np.int32)
    _, x, _, digits = train_test_split(images, labels, test_size=0.5, random_state=0,
                                       stratify=labels)
    y = (digits > 4).astype(np.int32)
    rng = np.random.default_rng(seed)
    tr = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False)
                                 for c in (0, 1)]))
    te = np.setdiff1d(np.arange(len(y)), tr)
    return {"x": x[tr], "y": y[tr], "x_test": x[te], "y_test": y[te]}


def _images(rng, k):
    return case(ck.uniform(rng, (4, 8, 8, 1), 0.0, 1.0), static={"k": k},
                label=f"the checkpoint, num_classes={k}")


def _shots(rng):
    return [case(label="10 shots per class of digit > 4 (seed 0)",
                 extras={k: v for k, v in _target(0).items() if k in ("x", "y")})]


def _pretrained(fns):
    from flax import nnx

    return fns.load_pretrained(rngs=nnx.Rngs(0), source=io.BytesIO(fns.data["backbone"]))


def _with_head(fns, k=2, seed=0):
    """The checkpoint with a fresh k-class head, made by the grader (not replace_head)."""
    from flax import nnx

    m = _pretrained(fns)
    m.head = nnx.Linear(32, k, rngs=nnx.Rngs(100 + seed))
    return m


def _snap(module, *types):
    """Every Variable (or those of ``types``) as a copied array, keyed by its dotted path."""
    import jax.numpy as jnp
    from flax import nnx

    return {".".join(map(str, p)): jnp.array(v[...]) for p, v in nnx.iter_graph(module)
            if isinstance(v, types or (nnx.Variable,))}


def _head_filter():
    from flax import nnx

    return nnx.All(nnx.Param, nnx.PathContains("head"))


def _ce(m, x, y):
    import optax
    from flax import nnx

    logits = nnx.view(m, use_running_average=True)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _grader_step(m, opt, x, y):
    from flax import nnx

    opt.update(m, nnx.grad(lambda m: _ce(m, x, y), argnums=nnx.DiffState(0, opt.wrt))(m))


def _toy(nnx, second="backbone", d_in=5, width=7):
    """``second`` (Linear d_in -> width) then ``head`` (Linear width -> 2)."""

    class Toy(nnx.Module):
        def __init__(self):
            setattr(self, second, nnx.Linear(d_in, width, rngs=nnx.Rngs(0)))
            self.head = nnx.Linear(width, 2, rngs=nnx.Rngs(1))

        def __call__(self, x):
            return self.head(getattr(self, second)(x))

    return Toy()


def _paths(tree):
    import jax

    return [jax.tree_util.keystr(p).removesuffix(".value")
            for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


def _replace(fns, i):
    """replace_head on the checkpoint; then the copy's backbone is changed and run in train
    mode (its BatchStats move too), which must not reach the original."""
    from flax import nnx

    m = _pretrained(fns)
    before = _snap(m)
    new = fns.replace_head(m, i.static["k"], rngs=nnx.Rngs(1))
    out = {"logits": nnx.view(new, use_running_average=True)(i.args[0]), "before": before,
           "in_features": int(new.head.in_features), "after": _snap(m),
           "out_features": int(m.head.out_features), "original": _snap(m.backbone),
           "copy": _snap(new.backbone)}
    before = _snap(m)
    for _, v in nnx.iter_graph(new.backbone):
        if isinstance(v, (nnx.Param, nnx.BatchStat)):
            v[...] = v[...] + 1.0
    new(i.args[0])
    return {**out, "kept": before, "kept_after": _snap(m)}


def _shapes_ok(c, out):
    k, got = c.static["k"], np.shape(out["logits"])
    if got != (4, k):
        return f"replace_head(model, {k}) gave logits of shape {got}; expected (4, {k})"
    if out["in_features"] != 32:
        return f"the new head reads {out['in_features']} features; the backbone gives 32"
    return None


def _in_features(fns, i):
    from flax import nnx

    new = fns.replace_head(_toy(nnx), 4, rngs=nnx.Rngs(2))
    return {"kernel": new.head.kernel[...], "y": new(i.args[0])}


def _toy_ok(c, out):
    k, y = np.shape(out["kernel"]), np.shape(out["y"])
    if k != (7, 4) or y != (3, 4):
        return (f"on a model whose backbone gives 7 features: the new head's kernel is {k} and "
                f"the output {y}; expected (7, 4) and (3, 4)")
    return None


def _labels(fns, i):
    import jax
    from flax import nnx

    labels = fns.freeze_labels(nnx.state(fns.DigitsCNN(2, rngs=nnx.Rngs(0)), nnx.Param),
                               ("head",))
    flat = dict(zip(_paths(labels), jax.tree.leaves(labels), strict=True))
    return {"is_state": isinstance(labels, nnx.State), "state": flat,
            "dict": fns.freeze_labels(i.args[0], ("head",)),
            "none": fns.freeze_labels(i.args[0], ())}


def _labels_ok(c, out):
    if not out["is_state"]:
        return "on an nnx.State the labels must be an nnx.State of the same structure"
    flat = out["state"]
    train = sorted(k for k, v in flat.items() if v == "trainable")
    if len(flat) != 10 or train != ["['head']['bias']", "['head']['kernel']"]:
        return (f"on nnx.state(DigitsCNN(2), nnx.Param) with ('head',), expected 10 labels with "
                f"exactly head.bias and head.kernel trainable; got {len(flat)} labels, "
                f"trainable: {train}")
    if out["dict"] != _LABELS_WANT:
        return f"freeze_labels({_LABEL_DICT}, ('head',)) gave {out['dict']}, not {_LABELS_WANT}"
    if out["none"] != {"head": {"w": "frozen"}, "headroom": {"w": "frozen"},
                       "b": {"head": ["frozen", "frozen"]}}:
        return f"with trainable=() every leaf must be 'frozen'; got {out['none']}"
    return None


def _partition(fns, i):
    import jax
    import optax

    params = i.args[0]
    tx = optax.partition({"trainable": optax.adam(1e-2), "frozen": optax.set_to_zero()},
                         fns.freeze_labels(params, ("head",)))
    state, out = tx.init(params), {"frozen": [], "trainable": []}
    for g in i.extras["grads"]:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        out["frozen"] += jax.tree.leaves(updates["backbone"])
        out["trainable"] += jax.tree.leaves(updates["head"])
    return out


def _zero_updates(c, out):
    if any(np.any(np.asarray(u) != 0) for u in out["frozen"]):
        step = next(n for n, u in enumerate(out["frozen"]) if np.any(np.asarray(u) != 0))
        return f"the frozen 'backbone' received a nonzero update at step {step + 1} of 10"
    if any(np.any(np.asarray(u) == 0) for u in out["trainable"]):
        return "the trainable 'head' received zero updates: it is labelled 'frozen'"
    return None


def _partition_cases(rng):
    p = {"backbone": {"w": ck.normal(rng, (3, 2))}, "head": {"w": ck.normal(rng, (2,))}}
    grads = [{k: {"w": ck.normal(rng, v["w"].shape)} for k, v in p.items()} for _ in range(10)]
    return [case(p, extras={"grads": grads}, label="10 Adam steps, random gradients")]


def _opt_state(fns, i):
    import jax
    import optax
    from flax import nnx

    m = _with_head(fns)
    opt = fns.make_finetune_optimizer(m, optax.adam(1e-3))
    both = fns.make_finetune_optimizer(m, optax.sgd(0.1), trainable=("head", "backbone"))
    kinds = [type(v).__name__ for v in jax.tree.leaves(
        nnx.state(m, both.wrt), is_leaf=lambda x: isinstance(x, nnx.Variable))]
    toy = _toy(nnx, "headroom", 2, 2)
    return {"adam": _paths(nnx.state(opt.opt_state)), "both": kinds,
            "headroom": _paths(nnx.state(toy, fns.make_finetune_optimizer(
                toy, optax.sgd(0.1)).wrt))}


def _only_head(c, out):
    adam = out["adam"]
    moments = [p for p in adam if "count" not in p]
    if len(adam) != 5 or any("['head']" not in p for p in moments):
        return (f"with Adam the optimizer state must hold 5 arrays (count, mu and nu of "
                f"head.kernel and head.bias); it holds {len(adam)}: {adam[:8]}")
    kinds = sorted(out["both"])
    if kinds != ["Param"] * 10:
        return (f"with trainable=('head', 'backbone'), wrt must select the 10 Params and no "
                f"BatchStat; it selects {len(kinds)}: {', '.join(kinds)}")
    if sorted(out["headroom"]) != ["['head']['bias']", "['head']['kernel']"]:
        return ("on a model with submodules 'head' and 'headroom', wrt selects "
                f"{out['headroom']}; names must match path keys exactly")
    return None


def _head_changes(fns, i):
    import optax
    from flax import nnx

    m = _with_head(fns)
    opt = fns.make_finetune_optimizer(m, optax.adam(1e-2))
    head, bb = _snap(m.head), _snap(m.backbone, nnx.Param)
    _grader_step(m, opt, i.extras["x"], i.extras["y"])
    return {"head": head, "head_after": _snap(m.head), "backbone": bb,
            "backbone_after": _snap(m.backbone, nnx.Param)}


def _changed_and_kept(c, out):
    if compare_trees(out["head_after"], out["head"], exact=True) is None:
        return "one optimizer step left the head unchanged"
    msg = compare_trees(out["backbone_after"], out["backbone"], exact=True)
    return f"one optimizer step changed a backbone Param: {msg}" if msg else None


def _run_steps(fns, i, n):
    """``n`` calls of ``nnx.jit(finetune_step)`` with the grader's head-only Adam(1e-2)."""
    import jax.numpy as jnp
    import optax
    from flax import nnx

    m = _with_head(fns)
    opt = nnx.Optimizer(m, optax.adam(1e-2), wrt=_head_filter())
    x, y, traces = i.extras["x"], i.extras["y"], [0]

    @nnx.jit
    def step(m, opt, x, y):
        traces[0] += 1  # a Python counter: runs once per trace
        return fns.finetune_step(m, opt, x, y)

    ce = nnx.jit(_ce)
    backbone = lambda: {k: v for k, v in _snap(m).items() if k.startswith("backbone.")}  # noqa
    out = {"backbone": backbone(), "head": _snap(m.head), "want": [], "got": []}
    for _ in range(n):
        out["want"].append(ce(m, x, y))
        out["got"].append(jnp.asarray(step(m, opt, x, y)))
    return {**out, "backbone_after": backbone(), "head_after": _snap(m.head),
            "traces": traces[0]}


def _losses_ok(c, out):
    msg = compare_trees(out["got"], out["want"], rtol=1e-5, atol=1e-6)
    if msg:
        return f"the returned losses are not the eval-mode loss before each update: {msg}"
    if compare_trees(out["head_after"], out["head"], exact=True) is None:
        return "the head did not change"
    losses = [float(v) for v in out["got"]]
    return None if losses[-1] < losses[0] else f"the loss did not fall: {losses[0]:.4f} -> " \
        f"{losses[-1]:.4f}"


def _transfer(fns, i):
    """Mean test accuracy over the seeds of the runs named in ``static["_runs"]``; each run
    type compiles once: a ``jax.jit`` of STEPS full-batch steps (``fori_loop``) and the
    test accuracy, called once per seed."""
    import jax
    import optax
    from flax import nnx

    def accuracies(build, step):
        pairs = [build(seed) for seed in SEEDS]
        graphdef = nnx.graphdef(pairs[0])

        @jax.jit
        def run(state, d):
            def body(_, s):
                m, opt = nnx.merge(graphdef, s)
                step(m, opt, d["x"], d["y"])
                return nnx.state((m, opt))

            m, _ = nnx.merge(graphdef, jax.lax.fori_loop(0, STEPS, body, state))
            pred = nnx.view(m, use_running_average=True)(d["x_test"]).argmax(-1)
            return (pred == d["y_test"]).mean()

        return float(np.mean([run(nnx.state(p), d) for p, d in zip(
            pairs, i.extras["seeds"], strict=True)]))

    def head_only(seed):
        m = _with_head(fns, 2, seed)
        return m, fns.make_finetune_optimizer(m, optax.adam(1e-2))

    def full(seed):
        m = _with_head(fns, 2, seed)
        tx = optax.partition({"trainable": optax.adam(1e-2), "frozen": optax.adam(1e-3)},
                             lambda p: fns.freeze_labels(p, ("head",)))
        return m, nnx.Optimizer(m, tx, wrt=nnx.Param)

    def scratch(seed):
        m = fns.DigitsCNN(2, rngs=nnx.Rngs(200 + seed))
        return m, nnx.Optimizer(m, optax.adam(1e-2), wrt=nnx.Param)

    def scratch_step(m, opt, x, y):
        loss = lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()  # noqa
        opt.update(m, nnx.grad(loss)(m))

    runs = {"head_only": (head_only, fns.finetune_step), "full": (full, fns.finetune_step),
            "scratch": (scratch, scratch_step)}
    acc = {r: accuracies(*runs[r]) for r in i.static["_runs"]}
    if "scratch" in acc:
        return {"margin_over_scratch": max(acc["head_only"], acc["full"]) - acc["scratch"]}
    return {f"{r}_accuracy": v for r, v in acc.items()}


def _seeds(runs, label):
    return lambda rng: [case(label=label, static={"_runs": runs},
                             extras={"seeds": [_target(s) for s in SEEDS]})]


_TRAIN = ("from the checkpoint with a fresh 2-class head, {what}, Adam, {steps} full-batch "
          "steps on 10 shots per class of 'digit > 4'; mean test accuracy of seeds 0, 1, 2")
_ONE = dict(batched=False)

CHECKS = (
    ck.invariant("replace_head", lambda rng: [_images(rng, k) for k in (3, 7)], _shapes_ok,
                 call=_replace, id="shapes", title="logits (N, num_classes)", **_ONE),
    ck.invariant("replace_head", lambda rng: [_images(rng, 3)], props.all_of(
        props.equal_parts("before", "after", what="the input model's state", exact=True),
        lambda c, out: None if out["out_features"] == 10 else f"the input's head now has "
        f"{out['out_features']} outputs; it must keep its 10"), call=_replace,
        id="input_untouched", title="the input is unchanged",
        hint="new = nnx.clone(model), then set new.head", **_ONE),
    ck.invariant("replace_head", lambda rng: [_images(rng, 3)], props.all_of(
        props.equal_parts("original", "copy", what="the copy's backbone", exact=True),
        props.equal_parts("kept", "kept_after", what="the original after the copy's backbone "
                          "was changed", exact=True)), call=_replace, id="copy_not_aliased",
                 title="the copy's backbone is equal, not shared",
                 hint="copy.copy shares the submodules; nnx.clone copies them", **_ONE),
    ck.invariant("replace_head", lambda rng: [case(ck.normal(rng, (3, 5)))], _toy_ok,
                 call=_in_features, id="in_features", title="in_features read from the old head",
                 hint="nnx.Linear(model.head.in_features, num_classes, rngs=rngs)", **_ONE),
    ck.invariant("freeze_labels", lambda rng: [case(_LABEL_DICT)], _labels_ok, call=_labels,
                 id="labels", title="exact-key labels on an nnx.State and on dicts",
                 hint="compare each raw path key (DictKey.key, GetAttrKey.name) with ==; "
                 "'head' in 'headroom' is a substring test", **_ONE),
    ck.invariant("freeze_labels", _partition_cases, _zero_updates, call=_partition,
                 id="partition_zero_updates", title="optax.partition + set_to_zero freezes exactly",
                 **_ONE),
    ck.invariant("make_finetune_optimizer", lambda rng: [case(label="the checkpoint, new head")],
                 _only_head, call=_opt_state, id="state_only_head",
                 title="optimizer state only for the trainable Params",
                 hint="wrt=nnx.All(nnx.Param, nnx.Any(*(nnx.PathContains(n) for n in "
                 "trainable)))", **_ONE),
    ck.invariant("make_finetune_optimizer", _shots, _changed_and_kept, call=_head_changes,
                 id="head_changes", title="one step trains the head, not the backbone", **_ONE),
    ck.invariant("finetune_step", _shots, props.equal_parts(
        "backbone", "backbone_after", what="backbone Params and BatchStats after 50 steps",
        exact=True), call=lambda f, i: _run_steps(f, i, 50), id="backbone_bitwise",
        title="backbone Params and BatchStats bitwise unchanged",
        hint="run the model as nnx.view(model, use_running_average=True) so BatchNorm "
        "neither uses nor updates batch statistics", **_ONE),
    ck.invariant("finetune_step", _shots, _losses_ok, call=lambda f, i: _run_steps(f, i, 20),
                 id="loss_before_update", title="returns the mean loss before the update",
                 hint="loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, "
                 "optimizer.wrt))(model); optimizer.update(model, grads); return loss", **_ONE),
    ck.invariant("finetune_step", _shots, lambda c, out: None if out["traces"] == 1 else
                 f"nnx.jit traced {out['traces']} times for 50 same-shape calls (expected 1)",
                 call=lambda f, i: _run_steps(f, i, 50), id="one_trace",
                 title="one trace for 50 calls under nnx.jit",
                 hint="no float(loss) or Python branches on arrays inside the step", **_ONE),
    ck.training("finetune_step", _seeds(("head_only",), "head-only transfer, 3 seeds"),
                _transfer, metric="head_only_accuracy", threshold=0.78, id="train_head",
                uses=("make_finetune_optimizer",), timeout=60.0,
                title="TRAIN: head-only transfer reaches 0.78",
                description=_TRAIN.format(what="make_finetune_optimizer(Adam 1e-2)",
                                          steps=STEPS)),
    ck.training("finetune_step", _seeds(("full",), "full fine-tune, 3 seeds"), _transfer,
                metric="full_accuracy", threshold=0.78, id="train_full",
                uses=("freeze_labels",), timeout=60.0,
                title="TRAIN: full fine-tune (head 1e-2, backbone 1e-3) reaches 0.78",
                description=_TRAIN.format(what="optax.partition by freeze_labels, Adam 1e-2 "
                                          "on the head and 1e-3 on the backbone", steps=STEPS)),
    ck.training("finetune_step", _seeds(("head_only", "full", "scratch"), "3 seeds"), _transfer,
                metric="margin_over_scratch", threshold=0.05, id="beats_scratch",
                uses=("make_finetune_optimizer", "freeze_labels"), timeout=90.0,
                title="TRAIN: transfer beats training from scratch by 5 points",
                description="the better of the two transfers against the same DigitsCNN "
                "from a random init (Adam 1e-2, BatchNorm in train mode, 150 steps)"),
    *[ck.forbidden(t) for t in TASKS],
)

EXERCISE = Exercise(
    id="q08",
    title="Transfer learning with Flax NNX",
    files={"transfer.py": FileSpec(
        helpers=("dlcore.transfer.model:Backbone", "dlcore.transfer.model:DigitsCNN",
                 "dlcore.transfer.model:load_pretrained", "dlcore.transfer.model:save_checkpoint",
                 "dlcore.transfer.data:digits_transfer_data",
                 "dlcore.transfer.data:few_shot_indices"),
        tasks=tuple(f"dlcore.transfer.finetune:{t}" for t in TASKS),
        summary="a new head, freezing with nnx filters and optax.partition, fine-tuning")},
    checks=CHECKS,
    forbidden={t: ("keras", "torch") for t in TASKS},
    data={"backbone": "dlcore/transfer/fixtures/backbone.npz"},
)
