"""A small compiled layer and its runs on the instruction simulator: what the host-link tests
send over the link and must get back."""

import numpy as np

from rtmap import host
from rtmap.compiler.pipeline import compile_layer
from rtmap.params import MachineParams
from rtmap.run import execute_on_simulator
from rtmap.sim.random_layer import random_input, random_layer


def linear_layer_runs(seed: int, params: MachineParams, thresholds_levels=None):
    """(compiled program, input stream of each run, the simulator's RunOutcome of each) for a
    random 5-input, 3-output linear layer on a batch of 6 or 7."""
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, kind="linear", out_channels=3, in_channels=5, in_bits=3,
                         thresholds_levels=thresholds_levels)
    x = random_input(rng, layer, batch=7 if thresholds_levels is None else 6)
    fields = host.receptive_fields(layer, x)
    compiled = compile_layer(layer, params, active_rows=params.rows)
    streams = [host.input_words(compiled.plan, run)
               for run in host.split_runs(fields, compiled.plan.active_rows)]
    return compiled, streams, execute_on_simulator(compiled, streams)
