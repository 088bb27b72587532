"""Benchmarks: the same workloads on bndl_dask and its peers, in one run (see README.md)."""
