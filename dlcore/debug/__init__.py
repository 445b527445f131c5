"""Debugging tools: gradient checks, NaN hunting, logging from jit, overfitting one batch.

Also the small dropout MLP of exercise q23, its deliberately buggy training loop
(``buggy_train_step``, ``buggy_train``, ``buggy_evaluate``) and the fixed one.
"""

from dlcore.debug.buggy_loop import buggy_evaluate as buggy_evaluate
from dlcore.debug.buggy_loop import buggy_train as buggy_train
from dlcore.debug.buggy_loop import buggy_train_step as buggy_train_step
from dlcore.debug.gradcheck import grad_check as grad_check
from dlcore.debug.jit_log import jit_logger as jit_logger
from dlcore.debug.mlp import init_mlp as init_mlp
from dlcore.debug.mlp import mlp_apply as mlp_apply
from dlcore.debug.nonfinite import find_nonfinite as find_nonfinite
from dlcore.debug.overfit import overfit_one_batch as overfit_one_batch
from dlcore.debug.train_loop import evaluate as evaluate
from dlcore.debug.train_loop import train as train
from dlcore.debug.train_loop import train_step as train_step
