"""PySpark's RDD API on bndl_dask: change ``from pyspark import SparkContext`` to
``from bndl_dask.spark import SparkContext`` and an RDD program runs on dask.

>>> from bndl_dask.spark import SparkContext
>>> sc = SparkContext(ctx)  # or SparkContext('local[2]'), SparkContext('dask://host:8786')
>>> counts = sc.parallelize(['to be', 'or not to be']).flatMap(str.split).countByValue()
>>> sorted(counts.items())
[('be', 2), ('not', 1), ('or', 1), ('to', 2)]
"""

from bndl_dask.spark.context import Accumulator, SparkConf, SparkContext
from bndl_dask.spark.rdd import RDD
from bndl_dask.spark.statcounter import BoundedFloat, StatCounter
from bndl_dask.spark.storagelevel import StorageLevel
from bndl_dask.util.hashing import portable_hash

__all__ = ["RDD", "Accumulator", "BoundedFloat", "SparkConf", "SparkContext", "StatCounter",
           "StorageLevel", "portable_hash"]
