"""Porting PyTorch weights to Flax NNX: layout converters, the digits twin, state_dict loading."""

from dlcore.port.convert import nchw_to_nhwc as nchw_to_nhwc
from dlcore.port.convert import torch_batchnorm_to_nnx as torch_batchnorm_to_nnx
from dlcore.port.convert import torch_conv2d_to_nnx as torch_conv2d_to_nnx
from dlcore.port.convert import torch_flatten_linear_to_nnx as torch_flatten_linear_to_nnx
from dlcore.port.convert import torch_linear_to_nnx as torch_linear_to_nnx
from dlcore.port.convert import torch_lstm_to_nnx as torch_lstm_to_nnx
from dlcore.port.digits_net import DigitsNet as DigitsNet
from dlcore.port.digits_net import load_torch_fixture as load_torch_fixture
from dlcore.port.digits_net import make_digits_net as make_digits_net
from dlcore.port.state_dict import load_state_dict as load_state_dict
