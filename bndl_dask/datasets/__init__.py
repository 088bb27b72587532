"""Datasets: BNDL's lazy partitioned collections (user API)."""
