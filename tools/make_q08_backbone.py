"""Writes dlcore/transfer/fixtures/backbone.npz, the pretrained model of exercise q08.

    python tools/make_q08_backbone.py

Uses dlcore and Flax only (about 15 s on two CPU cores). The model is
``dlcore.transfer.DigitsCNN(10)`` trained on the *source* half of the digits
(``digits_transfer_data()["source"]``, all ten classes, 899 images): Adam 3e-3, 800 steps of
64 examples drawn with ``numpy.random.default_rng(0)``, BatchNorm in train mode, parameters
from ``nnx.Rngs(0)``. Deterministic on a given CPU and XLA version. Every Param and
BatchStat is stored under its dotted path; ``load_pretrained`` reads it back.
"""

import pathlib

import numpy as np
import optax
from flax import nnx

from dlcore.transfer import DigitsCNN, digits_transfer_data, save_checkpoint

OUT = pathlib.Path(__file__).resolve().parent.parent / "dlcore/transfer/fixtures/backbone.npz"
STEPS, BATCH, LEARNING_RATE = 800, 64, 3e-3


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


def main():
    data = digits_transfer_data()
    x, y = data["source"]
    model = DigitsCNN(10, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)
    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        idx = rng.integers(0, len(x), BATCH)
        train_step(model, optimizer, x[idx], y[idx])
    x_t, digits_t = data["target"][0], data["target_digits"]
    print(f"source accuracy {float(accuracy(model, x, y)):.4f}")
    print(f"ten-class accuracy on the target half {float(accuracy(model, x_t, digits_t)):.4f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
