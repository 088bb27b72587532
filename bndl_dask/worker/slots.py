"""The dask resource through which bndl caps how many tasks of a job run at once on a worker.

Every worker advertises ``SLOTS`` units of ``bndl-slots``; a task of a job with concurrency ``c``
asks for ``SLOTS // c`` of them, so at most ``c`` such tasks fit on a worker at a time.
"""

SLOT_RESOURCE = "bndl-slots"
SLOTS = 720720  # divisible by every concurrency from 1 to 16
