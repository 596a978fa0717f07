"""Plain numpy/scipy twins of the compiled kernels: test oracles, not part of the package.

Each restates its kernel's algorithm step for step in Python (the same
steps, stops and error control), so a test can compare the compiled loop
against an independent statement of it to round-off.  They live beside the
tests because only tests (and the validation-doc generator) use them, and a
restatement is their point: folding them into the kernels' code would make
the comparison test nothing.
"""
