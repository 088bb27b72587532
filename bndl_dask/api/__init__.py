"""User API: contexts, executors, broadcasts, accumulators, profiling and progress."""
