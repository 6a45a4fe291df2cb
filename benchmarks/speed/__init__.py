"""The parts of ``benchmarks/csn_speed.py``, one concern each.

- :mod:`.cases`: what is measured: the cases (inference, training steps),
  the implementations of each (MMAction2's model eager and compiled, the
  plugin's paths) and the models with shared weights;
- :mod:`.timing`: one timed call of an implementation, calls alternating;
- :mod:`.memory`: peak memory of one implementation in a fresh process;
- :mod:`.accuracy`: how far an implementation lands from MMAction2's fp32
  output, and the bf16 accuracy table;
- :mod:`.mim_test`: the whole ``mim test`` on a trained model, per path;
- :mod:`.report`: the tables, notes and targets.
"""
