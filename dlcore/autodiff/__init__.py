from dlcore.autodiff.backprop import mlp_backward as mlp_backward
from dlcore.autodiff.backprop import mlp_forward as mlp_forward
from dlcore.autodiff.numerical import numerical_grad as numerical_grad
