"""Side-by-side benchmarks of skkeras against its peers.

Run them with ``python -m benchmarks`` (or ``python benchmarks/run.py``); see
:mod:`benchmarks.run` for the options. Each (workload, system, repeat) runs in a
fresh Python subprocess, one at a time, so that imports, graph caches and memory
are measured alike for every system.

Modules:

- :mod:`benchmarks.run`: the command line runner, the subprocess driver and the aggregation.
- :mod:`benchmarks.child`: what one subprocess runs (one workload, one system).
- :mod:`benchmarks.workloads`: the workloads W1-W4, in full and ``--quick`` sizes.
- :mod:`benchmarks.systems`: the systems compared: skkeras, scikeras, keras.wrappers, sklearn MLP.
- :mod:`benchmarks.models`: the Keras networks, one definition shared by every Keras wrapper.
- :mod:`benchmarks.data`: the data sets, prepared once per invocation.
- :mod:`benchmarks.report`: summaries, speed-ups and the markdown report.
- :mod:`benchmarks.seeds`: one W1 candidate's accuracy over seeds, skkeras against ``Model.fit``.

Importing this package imports nothing heavy (no Keras, no TensorFlow).
"""

__all__: list[str] = []
