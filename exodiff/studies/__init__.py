"""Studies: many runs of changed scenarios.  Formulations and methods side by side (:mod:`.compare`),
parameter sweeps (:mod:`.sweep`), their sensitivity ranking (:mod:`.sensitivity`), and the one executor
interface that runs a study's points in processes, threads or on dask (:mod:`.executors`).

Studies call :mod:`exodiff.run` on scenarios changed by dotted keys; they never reach into the problem
builders, solvers or kernels.
"""
