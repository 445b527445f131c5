"""Neural-network building blocks: pure functions, plus thin Flax NNX modules.

The NNX modules (``Dropout``, ``Conv2D``, ``MaxPool``, ``AvgPool``, ``MultiHeadAttention``)
load on first use, so the functional core imports without Flax.
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
from dlcore.nn.attention import luong_attention as luong_attention
from dlcore.nn.attention import multi_head_attention as multi_head_attention
from dlcore.nn.attention import scaled_dot_product_attention as scaled_dot_product_attention
from dlcore.nn.conv import conv2d as conv2d
from dlcore.nn.conv import conv_output_size as conv_output_size
from dlcore.nn.dropout import dropout as dropout
from dlcore.nn.dropout import mc_dropout_predict as mc_dropout_predict
from dlcore.nn.linear import dense as dense
from dlcore.nn.losses import softmax_cross_entropy as softmax_cross_entropy
from dlcore.nn.pooling import avg_pool as avg_pool
from dlcore.nn.pooling import global_avg_pool as global_avg_pool
from dlcore.nn.pooling import max_pool as max_pool

_MODULES = (
    "AvgPool",
    "Conv2D",
    "Dropout",
    "MaxPool",
    "MultiHeadAttention",
)


def __getattr__(name):
    if name in _MODULES:
        from dlcore.nn import modules

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
