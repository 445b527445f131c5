"""Neural-network building blocks: pure functions, plus thin Flax NNX modules.

The NNX modules (``Dropout``, ``Linear``, ``Conv2D``, ``MaxPool``, ``AvgPool``,
``MultiHeadAttention``) load on first use, so the functional core imports without Flax;
they are listed by ``dir()`` and ``__all__`` all the same.
"""

from dlcore.nn.activations import gelu as gelu
from dlcore.nn.activations import leaky_relu as leaky_relu
from dlcore.nn.activations import log_softmax as log_softmax
from dlcore.nn.activations import relu as relu
from dlcore.nn.activations import sigmoid as sigmoid
from dlcore.nn.activations import softmax as softmax
from dlcore.nn.activations import softplus as softplus
from dlcore.nn.activations import tanh as tanh
from dlcore.nn.attention import bahdanau_attention as bahdanau_attention
from dlcore.nn.attention import (
    dot_product_attention_weights as dot_product_attention_weights,
)
from dlcore.nn.attention import luong_attention as luong_attention
from dlcore.nn.attention import multi_head_attention as multi_head_attention
from dlcore.nn.attention import scaled_dot_product_attention as scaled_dot_product_attention
from dlcore.nn.conv import conv2d as conv2d
from dlcore.nn.conv import conv_output_size as conv_output_size
from dlcore.nn.conv1d import conv1d as conv1d
from dlcore.nn.dropout import broadcast_dropout as broadcast_dropout
from dlcore.nn.dropout import dropout as dropout
from dlcore.nn.dropout import mc_dropout_predict as mc_dropout_predict
from dlcore.nn.gradients import clip_by_global_norm as clip_by_global_norm
from dlcore.nn.gradients import detect_nonfinite as detect_nonfinite
from dlcore.nn.gradients import global_norm as global_norm
from dlcore.nn.gradients import layer_grad_norms as layer_grad_norms
from dlcore.nn.init import init_he as init_he
from dlcore.nn.init import init_xavier as init_xavier
from dlcore.nn.linear import dense as dense
from dlcore.nn.losses import softmax_cross_entropy as softmax_cross_entropy
from dlcore.nn.normalization import batch_norm as batch_norm
from dlcore.nn.normalization import layer_norm as layer_norm
from dlcore.nn.normalization import rms_norm as rms_norm
from dlcore.nn.pooling import avg_pool as avg_pool
from dlcore.nn.pooling import global_avg_pool as global_avg_pool
from dlcore.nn.pooling import max_pool as max_pool
from dlcore.nn.receptive import count_params as count_params
from dlcore.nn.receptive import receptive_field as receptive_field
from dlcore.nn.recurrent import gru_cell as gru_cell
from dlcore.nn.recurrent import lstm_cell as lstm_cell
from dlcore.nn.recurrent import rnn_scan as rnn_scan
from dlcore.nn.recurrent import run_rnn as run_rnn
from dlcore.nn.regularizers import expand_mask as expand_mask
from dlcore.nn.regularizers import l1_penalty as l1_penalty
from dlcore.nn.regularizers import l2_penalty as l2_penalty
from dlcore.nn.regularizers import prox_l1 as prox_l1

_MODULES = (
    "AvgPool",
    "Conv2D",
    "Dropout",
    "Linear",
    "MaxPool",
    "MultiHeadAttention",
)


def __getattr__(name):
    if name in _MODULES:
        from dlcore.nn import modules

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # The lazily loaded NNX modules show in dir() (and so in help() and tab completion)
    # before their first use.
    return sorted(set(globals()) | set(_MODULES))


# Every public function imported above plus the lazy NNX modules (submodules are not
# callable, so they stay out).
__all__ = sorted(
    {name for name, value in globals().items() if not name.startswith("_") and callable(value)}
    | set(_MODULES)
)
