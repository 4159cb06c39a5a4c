"""Side-by-side benchmarks of graphnn against its peers; run `python -m benchmarks` (see __main__.py).

Imports nothing at package import: __main__ must clear the OpenBLAS variables before NumPy loads.
"""
