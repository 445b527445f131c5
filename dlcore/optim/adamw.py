"""AdamW: Adam with weight decay decoupled from the adaptive scaling."""

from collections.abc import Callable
from typing import Any

import jax
import optax

from dlcore.optim.adam import scale_by_adam
from dlcore.optim.base import scale_by_learning_rate
from dlcore.optim.weight_decay import add_decayed_weights


def adamw(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""AdamW, as ``optax.adamw``: the decay skips Adam's preconditioner.

    .. math:: \theta_t = \theta_{t-1} - \eta_t \left(
       \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, \theta_{t-1} \right)

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of the raw gradient (no
    penalty in it) and the decay only on the masked leaves. :math:`\eta_t` is the
    schedule evaluated at the 0-based step index, and it multiplies the decay too.

    Args:
      learning_rate: a scalar :math:`\eta` or an optax schedule ``count -> eta``.
      b1: the decay :math:`\beta_1` of the first moment.
      b2: the decay :math:`\beta_2` of the second moment.
      eps: :math:`\epsilon`, outside the square root.
      weight_decay: :math:`\lambda`.
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = decayed), or a
        callable ``params -> pytree of bools``, as in optax.

    Returns:
      An ``optax.GradientTransformation``:
      ``chain(scale_by_adam, add_decayed_weights, scale_by_learning_rate)``. Its ``update``
      needs ``params``.

    Warning:
      Adam on ``loss + l2_penalty`` is *not* AdamW: there the penalty's gradient is divided
      by :math:`\sqrt{\hat v_t}`, so heavily-updated weights are barely decayed. Defaults
      differ: PyTorch ``AdamW`` uses ``weight_decay=1e-2``, optax and dlcore ``1e-4``; all
      three multiply the decay by the learning rate.

    Example:
      >>> tx = adamw(0.1, weight_decay=0.5)
      >>> params = jnp.array([2.0])
      >>> updates, _ = tx.update(jnp.array([3.0]), tx.init(params), params)
      >>> round(float(updates[0]), 4)  # -0.1 * (Adam's first step ~1 + 0.5 * 2.0)
      -0.2

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019; ``optax.adamw``.
    """
    return optax.chain(
        scale_by_adam(b1, b2, eps=eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
