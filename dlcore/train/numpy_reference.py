"""The NumPy training loop that q22's ``port_train`` reproduces in JAX (shipped as given).

A 2-layer tanh MLP with mean softmax cross-entropy, trained by heavy-ball SGD with
gradients written out by hand. Everything stays float32, like JAX's default.
"""

from typing import Any

import numpy as np


def init_params(seed: int, d: int, h: int, c: int) -> dict[str, np.ndarray]:
    """Glorot-scaled normal weights and zero biases for a ``d -> h -> c`` tanh MLP.

    Args:
      seed: seed of ``np.random.default_rng``.
      d: input size.
      h: hidden size.
      c: number of classes.

    Returns:
      ``{"w1": (d, h), "b1": (h,), "w2": (h, c), "b2": (c,)}``, float32.

    Example:
      >>> {k: v.shape for k, v in init_params(0, 4, 3, 2).items()}
      {'w1': (4, 3), 'b1': (3,), 'w2': (3, 2), 'b2': (2,)}

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010.
    """
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.standard_normal((d, h)) * np.sqrt(2.0 / (d + h))).astype(np.float32),
        "b1": np.zeros(h, np.float32),
        "w2": (rng.standard_normal((h, c)) * np.sqrt(2.0 / (h + c))).astype(np.float32),
        "b2": np.zeros(c, np.float32),
    }


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[np.float32, dict[str, np.ndarray]]:
    r"""Mean softmax cross-entropy of the tanh MLP and its gradients, by hand.

    .. math:: h = \tanh(x W_1 + b_1), \quad z = h W_2 + b_2, \quad
       L = \frac1B \sum_i \big(\log \textstyle\sum_c e^{z_{ic}} - z_{i y_i}\big)

    Args:
      params: ``{"w1", "b1", "w2", "b2"}`` float32 arrays.
      x: inputs ``(B, d)`` float32.
      y: integer labels ``(B,)``.

    Returns:
      ``(loss, grads)``, with ``grads`` shaped like ``params``.

    Example:
      >>> p = init_params(0, 4, 3, 2)
      >>> loss, g = loss_and_grads(p, np.ones((5, 4), np.float32), np.zeros(5, int))
      >>> g["w1"].shape, loss.dtype
      ((4, 3), dtype('float32'))

    References:
      Rumelhart, Hinton and Williams, "Learning representations by back-propagating errors",
      Nature 323, 1986.
    """
    batch = x.shape[0]
    h = np.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(batch), y].mean()
    dz = np.exp(log_probs)
    dz[np.arange(batch), y] -= 1.0
    dz /= batch
    dh = (dz @ params["w2"].T) * (1.0 - h**2)
    grads = {
        "w1": x.T @ dh,
        "b1": dh.sum(axis=0),
        "w2": h.T @ dz,
        "b2": dz.sum(axis=0),
    }
    return np.float32(loss), grads


def train(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    batches: np.ndarray,
    *,
    learning_rate: float,
    momentum: float = 0.9,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    r"""Heavy-ball SGD over the given mini-batches.

    .. math:: v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \eta v

    (no dampening, as ``optax.sgd(lr, momentum)``), with :math:`v = 0` at the start.

    Args:
      params: the initial params (not modified).
      x: all inputs ``(N, d)`` float32.
      y: all labels ``(N,)``.
      batches: ``(S, B)`` int indices into ``x``; one step per row.
      learning_rate: :math:`\eta`.
      momentum: :math:`\mu`.

    Returns:
      ``(params, losses)``: the final params and the ``(S,)`` float32 losses, each taken
      *before* its step's update.

    Example:
      >>> p = init_params(0, 4, 3, 2)
      >>> x, y = np.ones((6, 4), np.float32), np.arange(6) % 2
      >>> _, losses = train(p, x, y, np.arange(6).reshape(3, 2), learning_rate=0.1)
      >>> losses.shape
      (3,)

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
    """
    params = {k: v.copy() for k, v in params.items()}
    velocity: dict[str, Any] = {k: np.zeros_like(v) for k, v in params.items()}
    losses = np.zeros(len(batches), np.float32)
    lr = np.float32(learning_rate)
    mu = np.float32(momentum)
    for step, idx in enumerate(batches):
        loss, grads = loss_and_grads(params, x[idx], y[idx])
        losses[step] = loss
        for k in params:
            velocity[k] = mu * velocity[k] + grads[k]
            params[k] = params[k] - lr * velocity[k]
    return params, losses
