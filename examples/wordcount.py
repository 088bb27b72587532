"""Word count over text files: read files on the workers, split lines into words, count them
with a shuffle (``reduce_by_key``) and print the most common words.

Run it with ``python examples/wordcount.py [directory]``; without a directory it writes a small
corpus to a temporary directory first. An embedded cluster of two worker processes is started on
127.0.0.1 and shut down at the end.
"""

from __future__ import annotations

import operator
import os
import re
import sys
import tempfile

from bndl_dask import ComputeContext

CORPUS = {
    "zen.txt": """Beautiful is better than ugly.
Explicit is better than implicit.
Simple is better than complex.
Complex is better than complicated.
Flat is better than nested.
Sparse is better than dense.
Readability counts.
""",
    "dask.txt": """Dask scales Python code from a laptop to a cluster.
A dask cluster has a scheduler and workers; the workers run the tasks.
The scheduler tells the workers which tasks to run and where the data is.
""",
    "bndl.txt": """A dataset is split into partitions and each partition is computed by a task.
Narrow transformations are fused: a map after a filter after a map runs as one task.
A shuffle moves every record once, from the task that made it to the task that needs it.
""",
}

WORD = re.compile(r"[a-z]+")


def write_corpus(directory: str) -> None:
    for name, text in CORPUS.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
            file.write(text)


def words(line: str) -> list[str]:
    return WORD.findall(line.lower())


def word_count(ctx: ComputeContext, directory: str) -> list[tuple[str, int]]:
    """``(word, count)`` for every word in the files under ``directory``, most common first."""
    counts = (ctx.files(directory)
              .lines()
              .flatmap(words)
              .with_value(1)
              .reduce_by_key(operator.add))
    return sorted(counts.collect(), key=lambda pair: (-pair[1], pair[0]))


def main(directory: str | None = None) -> list[tuple[str, int]]:
    with ComputeContext(worker_count=2) as ctx:
        if directory is None:
            with tempfile.TemporaryDirectory() as tmp:
                write_corpus(tmp)
                counts = word_count(ctx, tmp)
        else:
            counts = word_count(ctx, directory)
    for word, count in counts[:10]:
        print(f"{count:5d}  {word}")
    print(f"{len(counts)} distinct words, {sum(c for _, c in counts)} in total")
    return counts


if __name__ == "__main__":  # worker processes are spawned: keep the work under this guard
    main(sys.argv[1] if len(sys.argv) > 1 else None)
