"""Evaluation metrics and cross-validation splits, pinned to scikit-learn."""

from dlcore.metrics.classification import confusion_matrix as confusion_matrix
from dlcore.metrics.classification import precision_recall_f1 as precision_recall_f1
from dlcore.metrics.probability import log_loss as log_loss
from dlcore.metrics.ranking import average_precision as average_precision
from dlcore.metrics.ranking import roc_auc as roc_auc
from dlcore.metrics.regression import mae as mae
from dlcore.metrics.regression import mse as mse
from dlcore.metrics.splits import kfold_indices as kfold_indices
from dlcore.metrics.splits import stratified_kfold as stratified_kfold
