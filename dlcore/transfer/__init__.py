"""Transfer learning with Flax NNX: a pretrained digits CNN, new heads, freezing, fine-tuning."""

from dlcore.transfer.data import digits_transfer_data as digits_transfer_data
from dlcore.transfer.data import few_shot_indices as few_shot_indices
from dlcore.transfer.finetune import finetune_step as finetune_step
from dlcore.transfer.finetune import freeze_labels as freeze_labels
from dlcore.transfer.finetune import make_finetune_optimizer as make_finetune_optimizer
from dlcore.transfer.finetune import replace_head as replace_head
from dlcore.transfer.model import Backbone as Backbone
from dlcore.transfer.model import DigitsCNN as DigitsCNN
from dlcore.transfer.model import load_pretrained as load_pretrained
from dlcore.transfer.model import save_checkpoint as save_checkpoint
