"""Fine-tuning the committed q08 checkpoint against training from scratch, 10 shots per class.

    python benchmarks/transfer_vs_scratch.py              # source: ten digits; target: digit > 4
    python benchmarks/transfer_vs_scratch.py --negative   # the digits 0-4 -> 5-9 pair

The target task has 10 labelled examples per class, drawn by ``few_shot_indices(seed)``;
accuracy is measured on all the other target images. For seeds 0, 1, 2 it trains, each for
a fixed number of full-batch steps:

- probe: a new head on the frozen checkpoint (``make_finetune_optimizer``, Adam 1e-2,
  ``finetune_step``, 150 steps);
- fine-tune: everything, Adam 1e-2 on the head and 1e-3 on the backbone
  (``optax.partition`` with ``freeze_labels``), BatchNorm statistics frozen, 150 steps;
- scratch: the same ``DigitsCNN`` from a random initialization, BatchNorm in train mode,
  Adam 1e-2 for 150 steps and Adam 3e-3 for 300 steps (the better one is the baseline).

It prints the mean of the three seeds and the margin of the best transfer over the best
scratch run. ``--negative`` first pretrains the same recipe on digits 0-4 of the whole set
and transfers to 5-9 (the pair on which transfer does not help).
"""

import argparse

import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

from dlcore.transfer import (
    DigitsCNN,
    digits_transfer_data,
    few_shot_indices,
    finetune_step,
    freeze_labels,
    load_pretrained,
    make_finetune_optimizer,
    replace_head,
)

SEEDS, SHOTS, STEPS = (0, 1, 2), 10, 150


@nnx.jit
def train_step(model, optimizer, x, y):
    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def accuracy(model, x, y):
    return (nnx.view(model, use_running_average=True)(x).argmax(-1) == y).mean()


jit_finetune_step = nnx.jit(finetune_step)


def probe(pretrained, x, y, xt, yt, num_classes, seed):
    model = replace_head(pretrained, num_classes, rngs=nnx.Rngs(100 + seed))
    optimizer = make_finetune_optimizer(model, optax.adam(1e-2))
    for _ in range(STEPS):
        jit_finetune_step(model, optimizer, x, y)
    return float(accuracy(model, xt, yt))


def full_finetune(pretrained, x, y, xt, yt, num_classes, seed):
    model = replace_head(pretrained, num_classes, rngs=nnx.Rngs(100 + seed))
    tx = optax.partition(
        {"trainable": optax.adam(1e-2), "frozen": optax.adam(1e-3)},
        lambda params: freeze_labels(params, ("head",)),
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    for _ in range(STEPS):
        jit_finetune_step(model, optimizer, x, y)
    return float(accuracy(model, xt, yt))


def scratch(x, y, xt, yt, num_classes, seed, learning_rate, steps):
    model = DigitsCNN(num_classes, rngs=nnx.Rngs(200 + seed))
    optimizer = nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)
    for _ in range(steps):
        train_step(model, optimizer, x, y)
    return float(accuracy(model, xt, yt))


def pretrain_0_to_4():
    """The q08 pretraining recipe on digits 0-4 of the whole set; returns model and target."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int32)
    src = labels < 5
    model = DigitsCNN(5, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)
    rng = np.random.default_rng(0)
    x, y = images[src], labels[src]
    for _ in range(800):
        idx = rng.integers(0, len(x), 64)
        train_step(model, optimizer, x[idx], y[idx])
    return model, (images[~src], labels[~src] - 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negative", action="store_true", help="digits 0-4 -> 5-9 instead")
    args = parser.parse_args()
    if args.negative:
        pretrained, (x, y) = pretrain_0_to_4()
        print("source: digits 0-4 (5 classes); target: digits 5-9")
    else:
        pretrained, data = load_pretrained(rngs=nnx.Rngs(0)), digits_transfer_data()
        x, y = data["target"]
        print("source: ten digits, one half; target: digit > 4 on the other half")
    num_classes = int(y.max()) + 1
    results = {"probe": [], "fine-tune": [], "scratch 1e-2 x150": [], "scratch 3e-3 x300": []}
    for seed in SEEDS:
        tr, te = few_shot_indices(seed, y, SHOTS)
        split = (x[tr], y[tr], x[te], y[te], num_classes, seed)
        results["probe"].append(probe(pretrained, *split))
        results["fine-tune"].append(full_finetune(pretrained, *split))
        results["scratch 1e-2 x150"].append(scratch(*split, 1e-2, 150))
        results["scratch 3e-3 x300"].append(scratch(*split, 3e-3, 300))
    print(f"{SHOTS} shots per class, {len(SEEDS)} seeds, accuracy on the rest of the target")
    for name, accs in results.items():
        print(f"  {name:18s} mean {np.mean(accs):.3f}  seeds {np.round(accs, 3).tolist()}")
    best_transfer = max(np.mean(results["probe"]), np.mean(results["fine-tune"]))
    best_scratch = max(np.mean(results["scratch 1e-2 x150"]), np.mean(results["scratch 3e-3 x300"]))
    print(f"margin (best transfer - best scratch): {best_transfer - best_scratch:+.3f}")


if __name__ == "__main__":
    main()
