"""Planning: a dataset's lineage becomes stages (narrow steps fused, boundaries at shuffles and
caches) and a Job of tasks for the execute layer."""
