"""Writes dlcore/port/fixtures/torch_digits.npz, the PyTorch side of exercise q28.

Maintainer-only: PyTorch is never a runtime or test dependency of dlcore. Run it from a
separate virtual environment that has torch 2.13 (CPU), NumPy and scikit-learn:

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy scikit-learn
    /tmp/torchvenv/bin/python tools/make_q28_torch_fixture.py

The file holds three PyTorch cases, each under its own key prefix, with every array stored
exactly as PyTorch lays it out (state_dict tensors as NumPy arrays, int64
``num_batches_tracked`` included):

- ``cnn/``: ``DigitsNet`` (conv 1->16 pad 1, BN, ReLU, conv 16->32 stride 2 pad 1, BN, ReLU,
  ``torch.flatten(., 1)`` in (C, H, W) order, Linear 512->10), trained for a few epochs on
  the digits training split (NCHW, pixel / 16). ``cnn/x`` are 64 test images (NCHW) and
  ``cnn/logits`` the eval-mode logits; ``cnn/test_accuracy`` is its accuracy on the whole
  test split (``train_test_split(test_size=0.25, random_state=0, stratify=labels)``).
- ``lstm/``: ``LSTM(8, 32, batch_first=True)`` + ``Linear(32, 10)`` reading the 8 rows of
  each digit as 8 time steps, trained briefly. ``lstm/x`` is ``(16, 8, 8)`` batch-major,
  ``lstm/outputs`` the hidden states ``(16, 8, 32)`` and ``lstm/logits`` the head on the
  last step.
- ``bn/``: a ``BatchNorm2d(16)`` with random affine parameters and running statistics, an
  input ``bn/x`` of shape ``(8, 16, 5, 3)`` (H != W), its eval output, its train output,
  and the running statistics after that one train-mode call (momentum 0.1).

Deterministic: fixed seeds, one thread, deterministic algorithms.
"""

import pathlib

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

OUT = pathlib.Path(__file__).resolve().parent.parent / "dlcore/port/fixtures/torch_digits.npz"


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class RowLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1]), outputs


def train(model, x, y, *, epochs, lr, batch_size=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            out = model(x[idx])
            logits = out[0] if isinstance(out, tuple) else out
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def state(prefix, module):
    return {f"{prefix}/{k}": v.detach().numpy().copy() for k, v in module.state_dict().items()}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    x_tr, x_te = torch.from_numpy(x_tr), torch.from_numpy(x_te)
    y_tr, y_te = torch.from_numpy(y_tr), torch.from_numpy(y_te)
    out = {}

    cnn = DigitsNet()
    train(cnn, x_tr[:, None], y_tr, epochs=4, lr=1e-3)
    with torch.no_grad():
        test_logits = cnn(x_te[:, None])
    out |= state("cnn", cnn)
    out["cnn/x"] = x_te[:64, None].numpy()
    out["cnn/logits"] = test_logits[:64].numpy()
    out["cnn/test_accuracy"] = np.float32((test_logits.argmax(1) == y_te).float().mean())

    lstm = RowLSTM()
    train(lstm, x_tr, y_tr, epochs=3, lr=3e-3)
    with torch.no_grad():
        logits, outputs = lstm(x_te[:16])
    out |= state("lstm", lstm)
    out["lstm/x"] = x_te[:16].numpy()
    out["lstm/outputs"] = outputs.numpy()
    out["lstm/logits"] = logits.numpy()

    bn = nn.BatchNorm2d(16)
    with torch.no_grad():
        bn.weight.copy_(1.0 + 0.5 * torch.randn(16))
        bn.bias.copy_(0.5 * torch.randn(16))
        bn.running_mean.copy_(torch.randn(16))
        bn.running_var.copy_(0.5 + torch.rand(16))
    out |= state("bn", bn)
    x = 2.0 * torch.randn(8, 16, 5, 3) + 1.0
    with torch.no_grad():
        bn.eval()
        out["bn/y_eval"] = bn(x).numpy()
        bn.train()
        out["bn/y_train"] = bn(x).numpy()
    out["bn/x"] = x.numpy()
    out["bn/running_mean_after"] = bn.running_mean.numpy().copy()
    out["bn/running_var_after"] = bn.running_var.numpy().copy()

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    accuracy = out["cnn/test_accuracy"]
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); cnn test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
