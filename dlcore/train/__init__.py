"""Training utilities: a train/val split, early stopping, Keras-style fit, a NumPy port.

The fit loop lives in ``dlcore.train.fitting`` (a module named ``fit`` would shadow the
function ``fit`` in this package).
"""

from dlcore.train.callbacks import EarlyStopping as EarlyStopping
from dlcore.train.early_stopping import early_stopping_init as early_stopping_init
from dlcore.train.early_stopping import early_stopping_update as early_stopping_update
from dlcore.train.fitting import eval_step as eval_step
from dlcore.train.fitting import evaluate as evaluate
from dlcore.train.fitting import fit as fit
from dlcore.train.fitting import train_step as train_step
from dlcore.train.port import mlp_tanh_loss as mlp_tanh_loss
from dlcore.train.port import port_train as port_train
from dlcore.train.split import train_val_split as train_val_split
