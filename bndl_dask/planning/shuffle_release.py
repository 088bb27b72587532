"""Dropping the worker-side shuffle data of finished jobs (driver side)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)


async def _drop_shuffles(dask_worker, shuffle_ids: list[str]) -> int:
    # a coroutine: it runs on the worker's event loop, between tasks' block reads and writes
    from bndl_dask.worker.services import services_for

    ids = set(shuffle_ids)
    return services_for(dask_worker).blocks.drop(lambda key: key[0] == "shuffle" and key[1] in ids)


def release_shuffles(ctx, shuffle_ids: Sequence[str]) -> None:
    """Drop the buckets of finished shuffles on every worker.

    Waits for the workers' answers (one round trip), so that once an action returns its
    shuffle data is gone; workers that have left are skipped.
    """
    if ctx.stopped:
        return
    try:
        ctx.client.run(_drop_shuffles, shuffle_ids=list(shuffle_ids), on_error="return")
    except Exception:
        logger.debug("releasing shuffle data failed", exc_info=True)
