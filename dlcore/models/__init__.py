"""Small reference models built from dlcore layers."""

from dlcore.models.cnn import cnn_apply as cnn_apply
from dlcore.models.cnn import init_cnn as init_cnn
from dlcore.models.residual import residual_mlp as residual_mlp
