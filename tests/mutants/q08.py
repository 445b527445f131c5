"""Known-wrong and correct-but-different transfer-learning code for the q08 grader.

The model is ``DigitsCNN`` (given), the checkpoint ``load_pretrained(rngs=nnx.Rngs(0),
source=<the bytes of backbone.npz>)``, the data the same split and draw as
``digits_transfer_data()`` and ``few_shot_indices(seed, y, 10)`` on its target ("digit > 4",
2 classes), drawn by the parent. "Bitwise" compares every Variable's array exactly. Each
check is in grader/specs/q08.py; a task is graded with the grader's own version of the other
tasks (its head replacement, its step), except the three TRAIN checks.

Check ids:

- ``replace_head/shapes``: on the checkpoint, ``replace_head(m, k, rngs=nnx.Rngs(1))`` for
  ``k`` in {3, 7} gives logits ``(4, k)`` under ``nnx.view(new, use_running_average=True)``
  and ``new.head.in_features == 32``.
- ``replace_head/input_untouched``: after ``replace_head``, the input's whole state is
  bitwise as before and ``m.head.out_features == 10``.
- ``replace_head/copy_not_aliased``: the copy's backbone state is bitwise equal to the
  original's; then every backbone Param and BatchStat of the copy is overwritten with
  ``+1`` and the copy is run once in train mode: the original's state is bitwise unchanged.
- ``replace_head/in_features``: a module ``M`` with ``backbone = nnx.Linear(5, 7)`` and
  ``head = nnx.Linear(7, 2)`` (``__call__ = head(backbone(x))``): the new head's kernel is
  ``(7, 4)`` and the copy maps ``(3, 5) -> (3, 4)``.
- ``freeze_labels/labels``: on ``nnx.state(DigitsCNN(2), nnx.Param)`` with ``("head",)``:
  an ``nnx.State``, exactly the two ``head`` leaves ``"trainable"``, the other eight
  ``"frozen"``; on ``{"head": {"w": 1.0}, "headroom": {"w": 2.0}, "b": {"head": [3.0, 4.0]}}``
  exactly ``{"head": {"w": "trainable"}, "headroom": {"w": "frozen"}, "b": {"head":
  ["trainable", "trainable"]}}``; with ``()`` every leaf ``"frozen"``.
- ``freeze_labels/partition_zero_updates``: ``optax.partition({"trainable": adam(1e-2),
  "frozen": set_to_zero()}, freeze_labels(params, ("head",)))`` on a 2-part dict, 10 steps
  of random gradients: every frozen update is exactly 0, every trainable one nonzero.
- ``make_finetune_optimizer/state_only_head``: on the checkpoint with a new 2-class head
  and ``optax.adam(1e-3)``: ``nnx.state(opt.opt_state)`` has 5 leaves (count; mu and nu of
  head.kernel and head.bias) and every mu/nu path contains the key ``"head"``; with
  ``trainable=("head", "backbone")`` ``nnx.state(model, opt.wrt)`` has all 10 Params and no
  BatchStat; on a module with submodules ``head`` and ``headroom`` (two ``nnx.Linear(2, 2)``),
  ``nnx.state(m, opt.wrt)`` holds only ``head``'s 2 leaves.
- ``make_finetune_optimizer/head_changes``: one grader-written fine-tune step with the
  learner's optimizer (Adam 1e-2) changes ``head.kernel`` and leaves every backbone Param
  bitwise unchanged.
- ``finetune_step/backbone_bitwise``: 50 steps of ``nnx.jit(finetune_step)`` on 10 shots per
  class (seed 0), reference optimizer Adam 1e-2: every backbone variable, Params and
  BatchStats, is bitwise unchanged.
- ``finetune_step/loss_before_update``: over 20 steps, each returned loss equals the mean softmax
  cross-entropy of the eval-mode model on ``(x, y)`` computed just before the call (rtol
  1e-5); the head changes; the last loss is below the first.
- ``finetune_step/one_trace``: wrapped as ``nnx.jit(lambda m, o, x, y: (count(),
  finetune_step(m, o, x, y))[1])``, 50 calls trace once (a Python counter).
- ``finetune_step/train_head``, ``train_full``, ``beats_scratch`` (TRAIN, seeds 0, 1, 2, 150
  full-batch steps on the 20 shots, each run type one ``jax.jit`` of a ``fori_loop``): a
  head-only transfer (``make_finetune_optimizer``, Adam 1e-2) reaches a mean accuracy
  >= 0.78 on the rest of the target (measured 0.824; seeds 0.852, 0.807, 0.815); a full
  fine-tune (``optax.partition({"trainable": adam(1e-2), "frozen": adam(1e-3)}, lambda p:
  freeze_labels(p, ("head",)))``: the callable form, so that a learner's labels need not
  match nnx's pure arrays; ``wrt=nnx.Param``) reaches >= 0.78 (measured 0.824); and the
  better of the two beats the grader's scratch baseline (``DigitsCNN(2,
  rngs=nnx.Rngs(200 + seed))``, Adam 1e-2, 150 train-mode steps; measured 0.729) by >= 0.05
  (measured +0.096).
- ``<task>/forbidden``: no ``keras`` or ``torch``.
"""

from tests.grading import Alternative, Mutant

_FORBIDDEN = [  # (task, signature, call of the correct version)
    ("replace_head", "(model, num_classes, *, rngs)", "(model, num_classes, rngs=rngs)"),
    ("freeze_labels", "(params, trainable)", "(params, trainable)"),
    ("make_finetune_optimizer", "(model, tx, *, trainable=(\"head\",))",
     "(model, tx, trainable=trainable)"),
    ("finetune_step", "(model, optimizer, x, y)", "(model, optimizer, x, y)"),
]

MUTANTS = [
    Mutant("finetune_bn_train_mode", "finetune_step", "finetune_step/backbone_bitwise", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):  # BatchNorm left in train mode: running statistics drift
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()
    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    optimizer.update(model, grads)
    return loss
"""),
    Mutant("finetune_loss_after_update", "finetune_step", "finetune_step/loss_before_update", """
def finetune_step(model, optimizer, x, y):
    _original_finetune_step(model, optimizer, x, y)
    logits = nnx.view(model, use_running_average=True)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
"""),
    Mutant("finetune_summed_loss", "finetune_step", "finetune_step/loss_before_update", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):
        logits = nnx.view(m, use_running_average=True)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    optimizer.update(model, grads)
    return loss
"""),
    Mutant("finetune_python_float_loss", "finetune_step", "finetune_step/one_trace", """
def finetune_step(model, optimizer, x, y):
    loss = _original_finetune_step(model, optimizer, x, y)
    return float(loss)  # concretizes a tracer under nnx.jit
""", status="error"),
    Mutant("replace_head_in_place", "replace_head", "replace_head/input_untouched", """
def replace_head(model, num_classes, *, rngs):
    model.head = nnx.Linear(model.head.in_features, num_classes, rngs=rngs)
    return model
"""),
    Mutant("replace_head_shallow_copy", "replace_head", "replace_head/copy_not_aliased", """
import copy

def replace_head(model, num_classes, *, rngs):
    new = copy.copy(model)  # a new object sharing the backbone's variables
    new.head = nnx.Linear(model.head.in_features, num_classes, rngs=rngs)
    return new
"""),
    Mutant("replace_head_hardcoded_32", "replace_head", "replace_head/in_features", """
def replace_head(model, num_classes, *, rngs):
    new = nnx.clone(model)
    new.head = nnx.Linear(32, num_classes, rngs=rngs)
    return new
"""),
    Mutant("freeze_labels_substring", "freeze_labels", "freeze_labels/labels", """
def freeze_labels(params, trainable):
    def label(path, _):
        text = jax.tree_util.keystr(path)
        return "trainable" if any(n in text for n in trainable) else "frozen"
    return jax.tree_util.tree_map_with_path(label, params)
"""),
    Mutant("freeze_labels_inverted", "freeze_labels", "freeze_labels/partition_zero_updates", """
def freeze_labels(params, trainable):
    flip = {"trainable": "frozen", "frozen": "trainable"}
    return jax.tree.map(lambda s: flip[s], _original_freeze_labels(params, trainable))
"""),
    Mutant("optimizer_wrt_all_params", "make_finetune_optimizer",
           "make_finetune_optimizer/state_only_head", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    return nnx.Optimizer(model, tx, wrt=nnx.Param)
"""),
    Mutant("optimizer_without_wrt", "make_finetune_optimizer",
           "make_finetune_optimizer/state_only_head", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    return nnx.Optimizer(model, tx)  # TypeError since flax 0.11
""", status="error"),
    Mutant("optimizer_substring_paths", "make_finetune_optimizer",
           "make_finetune_optimizer/state_only_head", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    def wanted(path, value):
        return isinstance(value, nnx.Param) and any(n in str(k) for n in trainable for k in path)
    return nnx.Optimizer(model, tx, wrt=wanted)
"""),
    Mutant("optimizer_includes_batch_stats", "make_finetune_optimizer",
           "make_finetune_optimizer/state_only_head", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    # no nnx.Param in the filter: BatchStats of a trainable part become "trainable"
    return nnx.Optimizer(model, tx, wrt=nnx.Any(*(nnx.PathContains(n) for n in trainable)))
"""),
    Mutant("replace_head_reinitialized", "replace_head", "replace_head/shapes", """
def replace_head(model, num_classes, *, rngs):
    new = nnx.clone(model)  # a fresh head, but still with the old number of classes
    new.head = nnx.Linear(model.head.in_features, model.head.out_features, rngs=rngs)
    return new
"""),
    Mutant("optimizer_last_key_only", "make_finetune_optimizer",
           "make_finetune_optimizer/head_changes", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    # compares the trainable names with the variable's own name ("kernel", "bias") only
    wanted = lambda path, value: bool(path) and path[-1] in trainable
    return nnx.Optimizer(model, tx, wrt=nnx.All(nnx.Param, wanted))
"""),
    Mutant("finetune_no_update", "finetune_step", "finetune_step/train_head", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):
        logits = nnx.view(m, use_running_average=True)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    return loss  # optimizer.update forgotten
"""),
    Mutant("finetune_gradient_ascent", "finetune_step", "finetune_step/train_full", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):
        logits = nnx.view(m, use_running_average=True)(x)
        return -optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    optimizer.update(model, grads)
    return -loss
"""),
    Mutant("finetune_zeroed_grads", "finetune_step", "finetune_step/beats_scratch", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):
        logits = nnx.view(m, use_running_average=True)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
    optimizer.update(model, jax.tree.map(jnp.zeros_like, grads))
    return loss
"""),
    *[Mutant(f"{task}_imports_{lib}", task, f"{task}/forbidden", f"""
def {task}{signature}:
    import {lib}

    return _original_{task}{call}
""", status="forbidden") for (task, signature, call), lib in zip(_FORBIDDEN, [
        "keras", "torch", "keras", "torch"])],
]

ALTERNATIVES = [
    Alternative("replace_head_split_merge", "replace_head", """
def replace_head(model, num_classes, *, rngs):
    graphdef, state = nnx.split(model)
    new = nnx.merge(graphdef, jax.tree.map(jnp.copy, state))
    new.head = nnx.Linear(new.head.in_features, num_classes, rngs=rngs)
    return new
"""),
    Alternative("freeze_labels_key_attrs", "freeze_labels", """
def freeze_labels(params, trainable):
    def raw(k):
        return getattr(k, "key", getattr(k, "name", getattr(k, "idx", None)))

    return jax.tree_util.tree_map_with_path(
        lambda path, _: "trainable" if set(map(raw, path)) & set(trainable) else "frozen", params
    )
"""),
    Alternative("optimizer_callable_filter", "make_finetune_optimizer", """
def make_finetune_optimizer(model, tx, *, trainable=("head",)):
    def wanted(path, value):
        return isinstance(value, nnx.Param) and any(k in trainable for k in path)
    return nnx.Optimizer(model, tx, wrt=wanted)
"""),
    Alternative("finetune_view_only_batchnorm", "finetune_step", """
def finetune_step(model, optimizer, x, y):
    def loss_fn(m):
        frozen = nnx.view(m, only=nnx.BatchNorm, use_running_average=True)
        return optax.softmax_cross_entropy_with_integer_labels(frozen(x), y).mean()
    grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))
    loss, grads = grad_fn(model)
    optimizer.update(model, grads)
    return loss
"""),
]
