"""Command line tools: ``dscheduler``, ``dworker`` and ``bndl-dask-shell``.

``dscheduler`` and ``dworker`` are dask's own ``dask scheduler`` / ``dask worker`` with bndl's
defaults: they listen on 127.0.0.1 unless given ``--host``, print where they listen in the words
of the original seed, and workers offer the ``bndl-slots`` resource bndl jobs ask for.
"""
