"""Solvers: a problem -> the compiled time loop (:mod:`exodiff.kernels`) -> a checked raw solution.

- :mod:`.common`: the raw solution, the stop list, the chunked call, failure messages;
- :mod:`.ledger`: compartment bookkeeping and the dose balance, for both geometries;
- :mod:`.layered`: the 1D driver; :mod:`.batch`: many 1D problems in one compiled call;
- :mod:`.superposition`: when and how a washed 1D regimen is the sum of shifted copies of one response;
- :mod:`.unit_cell`: the r-z driver;
- the plain numpy/scipy twins of the kernels, test oracles, live in ``tests/twins/``.
"""
