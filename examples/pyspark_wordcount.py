"""A PySpark RDD program that runs on bndl_dask by changing one import.

Word count, a join and aggregates over a small corpus, written against PySpark's RDD API: with
``from pyspark import SparkContext, StorageLevel`` it runs on Spark, with the import below it
runs on an embedded dask cluster of two worker processes (``local[2]``).

Run it with ``python examples/pyspark_wordcount.py``; it writes its corpus to a temporary
directory and prints what it found.
"""

import os
import re
import tempfile
from operator import add

from bndl_dask.spark import SparkContext, StorageLevel  # was: from pyspark import ...

TEXTS = {
    "zen.txt": "Beautiful is better than ugly.\nExplicit is better than implicit.\n"
               "Simple is better than complex.\nComplex is better than complicated.\n",
    "dask.txt": "Dask scales Python code from a laptop to a cluster.\n"
                "A dask cluster has a scheduler and workers.\n",
    "spark.txt": "Spark programs are written against RDDs.\n"
                 "An RDD is split into partitions and each partition is computed by a task.\n",
}

#: a small table to join the words with
WORD_KINDS = [("is", "verb"), ("are", "verb"), ("has", "verb"), ("better", "adjective"),
              ("simple", "adjective"), ("a", "article"), ("an", "article"), ("the", "article")]

WORD = re.compile(r"[a-z]+")


def words(line):
    return WORD.findall(line.lower())


def main():
    with tempfile.TemporaryDirectory() as directory:
        for name, text in TEXTS.items():
            with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
                file.write(text)
        sc = SparkContext("local[2]", "pyspark wordcount")
        try:
            run(sc, directory)
        finally:
            sc.stop()


def run(sc, directory):
    lines = sc.textFile(directory, minPartitions=4)
    counts = (lines.flatMap(words).map(lambda word: (word, 1))
              .reduceByKey(add).persist(StorageLevel.MEMORY_AND_DISK))
    totals = counts.values().stats()
    print(f"{totals.count()} distinct words, {totals.sum():.0f} in total")
    for word, count in counts.takeOrdered(3, key=lambda pair: (-pair[1], pair[0])):
        print(f"{count:5d}  {word}")

    kinds = sc.parallelize(WORD_KINDS, 2)
    per_kind = (counts.join(kinds)
                .map(lambda row: (row[1][1], row[1][0]))
                .aggregateByKey((0, 0), lambda acc, n: (acc[0] + n, acc[1] + 1),
                                lambda a, b: (a[0] + b[0], a[1] + b[1])))
    for kind, (total, distinct) in sorted(per_kind.collect()):
        print(f"{kind}: {total} uses of {distinct} words")

    lengths = counts.keys().map(len)
    stats = lengths.stats()
    print(f"word length: mean {stats.mean():.2f}, longest {stats.max():.0f}")
    buckets, histogram = lengths.histogram([1, 4, 8, 16])
    print(f"length histogram {buckets}: {histogram}")
    counts.unpersist()

if __name__ == "__main__":
    main()
