"""bndl_dask quickstart: datasets and futures on an embedded local cluster.

    python examples/quickstart.py

``ComputeContext(worker_count=2)`` starts a dask scheduler in this process and two worker
processes, all listening on 127.0.0.1 only, and shuts them down when the ``with`` block ends. To
use a running cluster instead, give its scheduler's address: ``ComputeContext('127.0.0.1:8786')``
(start one with ``dscheduler`` and ``dworker 127.0.0.1:8786``).
"""

from __future__ import annotations

from bndl_dask import ComputeContext


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def main() -> None:
    with ComputeContext(worker_count=2) as ctx:
        print("workers:", ctx.worker_count)
        for worker in ctx.workers:
            print("  ", worker)

        # A dataset is lazy and split into partitions; actions (count, sum, collect, ...) run
        # it as one job of tasks on the workers. map/filter/map is fused into one task each.
        numbers = ctx.range(1, 10_001, pcount=8)
        primes = numbers.filter(is_prime)
        print("primes below 10,001:", primes.count())
        print("the first ten:", primes.take(10))
        print("sum of their squares:", primes.map(lambda p: p * p).sum())
        print("largest three:", primes.nlargest(3))
        stats = numbers.map(float).stats()
        print(f"mean {stats.mean:.1f}, stdev {stats.stdev:.1f} of 1..10000")
        words = ctx.collection("the quick brown fox jumps over the lazy dog".split())
        print("word lengths:", words.map(len).collect())

        # dask's futures API on the same cluster and connection
        executor = ctx.executor
        futures = executor.map(pow, range(6), [2] * 6)
        total = executor.submit(sum, futures)
        print("squares via futures:", executor.gather(futures), "sum", total.result())


if __name__ == "__main__":
    main()
