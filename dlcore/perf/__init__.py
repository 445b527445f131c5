from dlcore.perf.accumulate import accumulate_grads as accumulate_grads
from dlcore.perf.prefetch import prefetch as prefetch
from dlcore.perf.profile import profile_step as profile_step
from dlcore.perf.remat import recompute_grad as recompute_grad
from dlcore.perf.remat import remat as remat
from dlcore.perf.timing import benchmark as benchmark
from dlcore.perf.timing import count_traces as count_traces
from dlcore.perf.timing import eager_vs_jit as eager_vs_jit
