from dlcore.graphs.interpreter import UnknownPrimitiveError as UnknownPrimitiveError
from dlcore.graphs.interpreter import eval_graph as eval_graph
from dlcore.graphs.interpreter import trace_graph as trace_graph
from dlcore.graphs.power_iteration import dynamic_power_iteration as dynamic_power_iteration
from dlcore.graphs.power_iteration import static_power_iteration as static_power_iteration
from dlcore.graphs.power_iteration import to_stablehlo as to_stablehlo
from dlcore.graphs.reverse_mode import grad_graph as grad_graph
