from dlcore.data.batching import minibatches as minibatches
