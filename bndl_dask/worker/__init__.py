"""Worker side: what runs inside dask worker processes (installed as a worker plugin)."""
