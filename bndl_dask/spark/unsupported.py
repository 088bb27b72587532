"""What PySpark has and bndl_dask does not: clear errors that name the alternative.

Spark-only features raise ``NotImplementedError`` saying what to use instead; a misspelt or
unknown camelCase name raises ``AttributeError`` that points at the snake_case ``Dataset``
method of the same name when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NoReturn

#: RDD methods of PySpark's with no bndl_dask counterpart -> what to use instead
RDD_ALTERNATIVES = {
    "barrier": "barrier execution has no counterpart on dask; run gang-scheduled work with "
               "dask's futures (sc.executor.submit) or drop barrier()",
    "withResources": "resource profiles have no counterpart; start dask workers with "
                     "resources (dask worker --resources 'GPU=1') and submit with "
                     "sc.executor.submit(..., resources={'GPU': 1})",
    "getResourceProfile": "resource profiles have no counterpart; see dask worker resources",
    "checkpoint": "HDFS checkpoints have no counterpart; persist the RDD "
                  "(rdd.persist(StorageLevel.DISK_ONLY)) or save it (rdd.saveAsPickleFile) "
                  "and read it back (sc.pickleFile)",
    "localCheckpoint": "local checkpoints have no counterpart; use "
                       "rdd.persist(StorageLevel.DISK_ONLY)",
    "cleanShuffleDependencies": "shuffle blocks are dropped when the RDD is garbage "
                                "collected; unpersist() cached RDDs you no longer need",
    "saveAsHadoopDataset": "Hadoop output formats have no counterpart; use "
                           "rdd.saveAsTextFile, rdd.saveAsPickleFile or rdd.dataset"
                           ".save_as_json",
    "saveAsHadoopFile": "Hadoop output formats have no counterpart; use rdd.saveAsTextFile, "
                        "rdd.saveAsPickleFile or rdd.dataset.save_as_json",
    "saveAsNewAPIHadoopDataset": "Hadoop output formats have no counterpart; use "
                                 "rdd.saveAsTextFile or rdd.saveAsPickleFile",
    "saveAsNewAPIHadoopFile": "Hadoop output formats have no counterpart; use "
                              "rdd.saveAsTextFile or rdd.saveAsPickleFile",
    "saveAsSequenceFile": "Hadoop sequence files have no counterpart; use "
                          "rdd.saveAsPickleFile (read back with sc.pickleFile)",
    "toDF": "there is no Spark SQL; rdd.dataset.as_dataframe(...) makes a dask DataFrame",
}

#: SparkContext methods of PySpark's with no bndl_dask counterpart -> what to use instead
CONTEXT_ALTERNATIVES = {
    "hadoopFile": "Hadoop input formats have no counterpart; use sc.textFile, "
                  "sc.binaryFiles or sc.pickleFile",
    "hadoopRDD": "Hadoop input formats have no counterpart; use sc.textFile or sc.binaryFiles",
    "newAPIHadoopFile": "Hadoop input formats have no counterpart; use sc.textFile, "
                        "sc.binaryFiles or sc.pickleFile",
    "newAPIHadoopRDD": "Hadoop input formats have no counterpart; use sc.textFile or "
                       "sc.binaryFiles",
    "sequenceFile": "Hadoop sequence files have no counterpart; use sc.pickleFile",
    "binaryRecords": "fixed-length records: sc.binaryFiles(path) and slice the bytes in a map",
    "addFile": "ship files to workers with sc.executor.upload_file(path) (dask's upload_file)",
    "addArchive": "ship files to workers with sc.executor.upload_file(path)",
    "runJob": "run a function over chosen partitions with "
              "rdd.dataset.mask_partitions(...).map_partitions(f).collect()",
    "setCheckpointDir": "checkpoints have no counterpart; use persist(StorageLevel.DISK_ONLY)",
    "getCheckpointDir": "checkpoints have no counterpart",
    "setJobGroup": "job groups have no counterpart; cancel work with Ctrl-C or sc.stop()",
    "cancelJobGroup": "job groups have no counterpart; cancel work with Ctrl-C or sc.stop()",
    "statusTracker": "follow jobs in the dask dashboard (sc.uiWebUrl) or ctx.jobs",
}


def not_supported(owner: str, name: str, alternative: str) -> Callable[..., NoReturn]:
    """A method that raises NotImplementedError naming ``alternative``."""

    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(f"{owner}.{name} is Spark-only and not supported by "
                                  f"bndl_dask: {alternative}")

    method.__name__ = name
    method.__doc__ = f"Not supported (Spark-only): {alternative}."
    return method


def snake_case(name: str) -> str:
    """``'countByKey'`` -> ``'count_by_key'``.

    >>> snake_case('mapPartitionsWithIndex')
    'map_partitions_with_index'
    """
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def no_attribute(owner: str, name: str, dataset_type: type) -> AttributeError:
    """The AttributeError for an unknown ``name``, pointing at the Dataset method if any.

    >>> from bndl_dask.datasets.dataset import Dataset
    >>> str(no_attribute('RDD', 'countDistinct', Dataset))
    "'RDD' object has no attribute 'countDistinct' (not in PySpark's RDD API); the bndl_dask Dataset has count_distinct: rdd.dataset.count_distinct(...)"
    """  # noqa: E501
    message = f"{owner!r} object has no attribute {name!r}"
    snake = snake_case(name)
    if not name.startswith("_") and hasattr(dataset_type, snake):
        message += (f" (not in PySpark's RDD API); the bndl_dask Dataset has {snake}: "
                    f"rdd.dataset.{snake}(...)")
    return AttributeError(message)
