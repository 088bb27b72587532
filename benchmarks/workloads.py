"""The workloads: one function per engine, all computing the same value as serial Python.

A ``Workload`` maps engine names (see ``engines.py``) to ``run(handle, **sizes) -> result``;
``sizes`` come from ``full`` or, with ``--quick``, from ``quick``. Adding a workload is one entry
in ``REGISTRY`` (or, for shuffles, a function in ``shuffle_workloads.py``: see
``load_shuffle_workloads``).

Every function that runs on a worker is a module-level function (pickled by reference: the
workers import this module), never a lambda, so all engines ship the same code.
"""

from __future__ import annotations

import importlib
import inspect
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# -- targets -----------------------------------------------------------------------------------


@dataclass
class Target:
    """A goal from the issues, checked on the medians of one run.

    ``measure(medians, extras)`` returns the measured value (None when an engine it needs did not
    run); the target is met when that value is at most ``limit``.
    """

    text: str
    measure: Callable[[dict[str, float], dict[str, Any]], float | None]
    limit: float
    unit: str = "x"


def ratio_to_half_serial(limit: float) -> Target:
    def measure(medians: dict[str, float], _extras: dict) -> float | None:
        if "bndl_dask" not in medians or "serial" not in medians:
            return None
        return medians["bndl_dask"] / (medians["serial"] / 2)

    return Target(f"bndl_dask <= {limit}x serial/2", measure, limit)


def ratio_to(peer: str, limit: float) -> Target:
    def measure(medians: dict[str, float], _extras: dict) -> float | None:
        if "bndl_dask" not in medians or peer not in medians:
            return None
        return medians["bndl_dask"] / medians[peer]

    return Target(f"bndl_dask <= {limit}x {peer}", measure, limit)


def absolute_ms(limit_ms: float) -> Target:
    def measure(medians: dict[str, float], _extras: dict) -> float | None:
        return medians["bndl_dask"] * 1000 if "bndl_dask" in medians else None

    return Target(f"bndl_dask median < {limit_ms:g} ms", measure, limit_ms, unit="ms")


def memory_bounded(limit: float) -> Target:
    """icollect's peak RSS growth over collect()'s (from the memory probe, see memprobe.py)."""

    def measure(_medians: dict[str, float], extras: dict) -> float | None:
        memory = extras.get("memory") or {}
        icollect, collect = memory.get("icollect-list"), memory.get("collect-list")
        if not icollect or not collect or "error" in icollect or "error" in collect \
                or collect["growth_mb"] <= 0:
            return None
        return icollect["growth_mb"] / collect["growth_mb"]

    return Target(f"icollect peak RSS growth <= {limit}x collect()'s", measure, limit)


@dataclass
class Workload:
    name: str
    title: str
    full: dict[str, Any]
    quick: dict[str, Any]
    engines: dict[str, Callable[..., Any]]
    #: minimum timed samples, however small --repeat is (W6: the median of 20)
    min_samples: int = 1
    #: whether the order of a list result matters when comparing with serial Python
    ordered: bool = True
    targets: list[Target] = field(default_factory=list)
    note: str = ""
    #: whether ``pcount`` is part of what is measured (W6's 2, IC's 100), so ``--partitions``
    #: and ``--sweep`` leave it alone
    fixed_pcount: bool = False

    def sizes(self, quick: bool) -> dict[str, Any]:
        return dict(self.quick if quick else self.full)


def _bounds(n: int, pcount: int) -> list[tuple[int, int]]:
    return [(i * n // pcount, (i + 1) * n // pcount) for i in range(pcount)]


def _token() -> str:
    """A fresh key prefix: dask must never answer a sample from a previous sample's results."""
    return uuid.uuid4().hex[:10]


# -- W1 narrow: range -> map(x*2) -> filter(x % 3 == 0) -> count --------------------------------


def double(x: int) -> int:
    return x * 2


def divisible_by_3(x: int) -> bool:
    return x % 3 == 0


def w1_part(lo: int, hi: int) -> int:
    """One fused partition, as a hand-written dask task would do it."""
    return sum(1 for _ in filter(divisible_by_3, map(double, range(lo, hi))))


def w1_serial(_handle: None, n: int, pcount: int) -> int:
    return sum(1 for _ in filter(divisible_by_3, map(double, range(n))))


def w1_bndl(ctx, n: int, pcount: int) -> int:
    return ctx.range(n, pcount=pcount).map(double).filter(divisible_by_3).count()


def w1_bag(client, n: int, pcount: int) -> int:
    import dask.bag as db

    bag = db.range(n, npartitions=pcount).map(double).filter(divisible_by_3)
    return client.compute(bag.count(), sync=True)


def w1_graph(client, n: int, pcount: int) -> int:
    tok = _token()
    graph: dict[Any, Any] = {(f"w1-{tok}", i): (w1_part, lo, hi)
                             for i, (lo, hi) in enumerate(_bounds(n, pcount))}
    graph[f"w1-total-{tok}"] = (sum, list(graph))
    return client.get(graph, f"w1-total-{tok}")


def w1_client_map(client, n: int, pcount: int) -> int:
    los, his = zip(*_bounds(n, pcount))
    return sum(client.gather(client.map(w1_part, los, his, pure=False)))


def w1_spark(sc, n: int, pcount: int) -> int:
    return sc.range(0, n, numSlices=pcount).map(double).filter(divisible_by_3).count()


# -- W5 futures: n tiny tasks submitted and gathered --------------------------------------------


def inc(x: int) -> int:
    return x + 1


def w5_serial(_handle: None, n: int) -> list[int]:
    return [inc(i) for i in range(n)]


def futures_roundtrip(client, n: int) -> list[int]:
    """What a dask user writes: ``gather(map(...))``; ``pure=False`` so no sample reuses keys."""
    return client.gather(client.map(inc, range(n), pure=False))


def w5_bndl(ctx, n: int) -> list[int]:
    return futures_roundtrip(ctx.executor, n)


def w5_graph(client, n: int) -> list[int]:
    tok = _token()
    keys = [f"inc-{tok}-{i}" for i in range(n)]
    return client.get({key: (inc, i) for i, key in enumerate(keys)}, keys)


# -- W6 small job: count of range(10) in 2 partitions ----------------------------------------


def count_range(lo: int, hi: int) -> int:
    return sum(1 for _ in range(lo, hi))


def w6_serial(_handle: None, n: int, pcount: int) -> int:
    return sum(count_range(lo, hi) for lo, hi in _bounds(n, pcount))


def w6_bndl(ctx, n: int, pcount: int) -> int:
    return ctx.range(n, pcount=pcount).count()


def w6_bag(client, n: int, pcount: int) -> int:
    import dask.bag as db

    return client.compute(db.range(n, npartitions=pcount).count(), sync=True)


def w6_graph(client, n: int, pcount: int) -> int:
    tok = _token()
    graph: dict[Any, Any] = {(f"w6-{tok}", i): (count_range, lo, hi)
                             for i, (lo, hi) in enumerate(_bounds(n, pcount))}
    graph[f"w6-total-{tok}"] = (sum, list(graph))
    return client.get(graph, f"w6-total-{tok}")


def w6_client_map(client, n: int, pcount: int) -> int:
    los, his = zip(*_bounds(n, pcount))
    return sum(client.gather(client.map(count_range, los, his, pure=False)))


def w6_spark(sc, n: int, pcount: int) -> int:
    return sc.range(0, n, numSlices=pcount).count()


# -- IC: icollect, elements consumed one by one -------------------------------------------------


def consume(elements: Iterable[int]) -> tuple[int, int]:
    """Take elements one at a time, as a streaming consumer would: (count, sum)."""
    count = total = 0
    for x in elements:
        count += 1
        total += x
    return count, total


def identity(x: Any) -> Any:
    return x


def ic_serial(_handle: None, n: int, pcount: int) -> tuple[int, int]:
    return consume(range(n))


def ic_bndl(ctx, n: int, pcount: int) -> tuple[int, int]:
    return consume(ctx.range(n, pcount=pcount).icollect())


def ic_list_bndl(ctx, n: int, pcount: int) -> tuple[int, int]:
    # the map makes every partition a list: what icollect must stream (a bare range is tiny)
    return consume(ctx.range(n, pcount=pcount).map(identity).icollect())


# -- the registry --------------------------------------------------------------------------------

REGISTRY: dict[str, Workload] = {
    "W1": Workload(
        "W1", "narrow: range -> map(x*2) -> filter(x%3==0) -> count",
        full=dict(n=10_000_000, pcount=16), quick=dict(n=200_000, pcount=16),
        engines=dict(serial=w1_serial, bndl_dask=w1_bndl, dask_bag=w1_bag, dask_graph=w1_graph,
                     client_map=w1_client_map, pyspark=w1_spark),
        targets=[ratio_to_half_serial(1.2)]),
    "W5": Workload(
        "W5", "futures: n tiny tasks, map + gather",
        full=dict(n=5_000), quick=dict(n=200),
        engines=dict(serial=w5_serial, bndl_dask=w5_bndl, client_map=futures_roundtrip,
                     dask_graph=w5_graph),
        targets=[ratio_to("client_map", round(1 / 1.5, 2))],
        note="bndl_dask = ctx.executor.map/gather; client_map = the same calls on a default "
             "LocalCluster; dask_graph = one dict graph of n tasks via client.get"),
    "W6": Workload(
        "W6", "small job: count of range(10) in 2 partitions",
        full=dict(n=10, pcount=2), quick=dict(n=10, pcount=2), min_samples=20,
        engines=dict(serial=w6_serial, bndl_dask=w6_bndl, dask_bag=w6_bag, dask_graph=w6_graph,
                     client_map=w6_client_map, pyspark=w6_spark),
        targets=[absolute_ms(10)], fixed_pcount=True),
    "IC": Workload(
        "IC", "icollect of range(n) (range partitions), consumed one by one",
        full=dict(n=10_000_000, pcount=100), quick=dict(n=200_000, pcount=20),
        engines=dict(serial=ic_serial, bndl_dask=ic_bndl), fixed_pcount=True,
        note="range partitions travel as range objects, so this measures streaming overhead"),
    "IC-list": Workload(
        "IC-list", "icollect of range(n).map(identity) (list partitions), one by one",
        full=dict(n=10_000_000, pcount=100), quick=dict(n=200_000, pcount=20),
        engines=dict(serial=ic_serial, bndl_dask=ic_list_bndl),
        targets=[memory_bounded(0.25)], fixed_pcount=True,
        note="no Client.map peer: distributed ships a bare list of 100,000 ints element by "
             "element, which takes minutes for 10M"),
}

# -- shuffle workloads (issues 5, 14, 15), written in shuffle_workloads.py ------------------------

#: targets of issue 15, as bndl_dask's median over (serial median / 2)
SHUFFLE_TARGETS = {"W2": 2.5, "W3": 2.5, "W4": 1.0, "W7": 2.5}
#: workloads whose list results must come back in serial Python's order
ORDERED_WORKLOADS = {"W4"}

_NAME = re.compile(r"^(w\d+)_?(.*)$", re.IGNORECASE)
_ENGINE_HINTS = (("serial", "serial"), ("bag", "dask_bag"), ("graph", "dask_graph"),
                 ("client", "client_map"), ("spark", "pyspark"))


def _engine_of(suffix: str) -> str:
    words = suffix.lower()
    for hint, engine in _ENGINE_HINTS:
        if hint in words:
            return engine
    return "bndl_dask"


#: how much ``--quick`` shrinks a shuffle workload (its ``scale``)
QUICK_SCALE = 0.01
#: what the harness passes to a shuffle workload's functions (see ``adapt``)
SIZE_PARAMETERS = ("scale", "pcount", "keys")


def adapt(func: Callable, engine: str) -> Callable[..., Any]:
    """Call ``func`` the way the shuffle modules write it: ``f(handle, scale=..., pcount=...,
    keys=...)`` for an engine, ``f(scale=..., ...)`` for a serial reference (a serial reference
    only gets a handle when its first parameter has no default); of the sizes, only those
    ``func`` takes are passed (W4 has no ``keys``)."""
    params = inspect.signature(func).parameters
    positional = [p for p in params.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in SIZE_PARAMETERS]
    takes_handle = bool(positional) and (engine != "serial" or positional[0].default is
                                         inspect.Parameter.empty)

    def run(handle: Any, **sizes: Any) -> Any:
        kwargs = {k: v for k, v in sizes.items() if k in params}
        return func(handle, **kwargs) if takes_handle else func(**kwargs)

    run.__name__ = getattr(func, "__name__", "run")
    return run


def _shuffle_workload(name: str, engines: dict[str, Callable], title: str,
                      limit: float | None, keyed: bool) -> Workload:
    from benchmarks.shuffle_workloads import DEFAULT_PARTITIONS

    sizes: dict[str, Any] = dict(pcount=DEFAULT_PARTITIONS)
    if keyed:
        sizes["keys"] = "int"
    return Workload(name, title, full=dict(scale=1.0, **sizes),
                    quick=dict(scale=QUICK_SCALE, **sizes), engines=engines,
                    ordered=name in ORDERED_WORKLOADS,
                    targets=[ratio_to_half_serial(limit)] if limit else [],
                    note="from shuffle_workloads.py; dask_graph and pyspark versions in "
                         "shuffle_peers.py")


def _title(func: Callable, fallback: str) -> str:
    """The workload's line in its module's docstring (``* W2 reduce_by_key: ...``), if any."""
    module = inspect.getmodule(func)
    match = _NAME.match(getattr(func, "__name__", ""))
    if module is not None and module.__doc__ and match:
        bullet = f"* {match.group(1).upper()} "
        for line in module.__doc__.splitlines():
            if line.strip().startswith(bullet):
                return line.strip()[len(bullet):].rstrip(".").replace("``", "")
    return fallback.replace("_", " ").strip() or func.__name__


def load_shuffle_workloads() -> tuple[list[Workload], str | None]:
    """The workloads of ``benchmarks/shuffle_workloads.py``, and a note when there are none.

    Accepted shapes (first match wins):

    * ``WORKLOADS``: a dict of name -> ``Workload`` (used as is), or of name -> ``(bndl_func,
      serial_func)``; an optional ``TARGETS`` dict of name -> limit (bndl_dask over serial/2)
      overrides ``SHUFFLE_TARGETS``;
    * module-level functions named ``w2_<anything>`` ...: ``*serial*`` is serial Python's
      reference, ``*bag*`` / ``*graph*`` / ``*client*`` / ``*spark*`` go to those engines, any
      other name is bndl_dask's.

    Functions are called ``f(ctx, scale=..., pcount=..., keys=...)`` / ``f(scale=..., ...)``
    (serial), each given only the sizes it takes (see ``adapt``). Peer engines for these
    workloads come from ``shuffle_peers.py`` when it has them.
    """
    try:
        module = importlib.import_module("benchmarks.shuffle_workloads")
    except ModuleNotFoundError as exc:
        if exc.name in ("benchmarks.shuffle_workloads", "benchmarks"):
            return [], "benchmarks/shuffle_workloads.py is not there yet: W2, W3, W4, W7 skipped"
        return [], f"shuffle_workloads.py could not be imported: {exc}"
    except Exception as exc:
        return [], f"shuffle_workloads.py could not be imported: {type(exc).__name__}: {exc}"
    targets = dict(SHUFFLE_TARGETS)
    targets.update(getattr(module, "TARGETS", None) or {})
    declared = getattr(module, "WORKLOADS", None)
    found: dict[str, dict[str, Callable]] = {}
    titles: dict[str, str] = {}
    if isinstance(declared, dict) and declared:
        if all(isinstance(w, Workload) for w in declared.values()):
            return list(declared.values()), None
        for name, entry in declared.items():
            if isinstance(entry, (tuple, list)) and len(entry) == 2 and all(map(callable, entry)):
                bndl, serial = entry
                found[name] = {"serial": adapt(serial, "serial"),
                               "bndl_dask": adapt(bndl, "bndl_dask")}
                match = _NAME.match(bndl.__name__)
                titles[name] = _title(bndl, match.group(2) if match else bndl.__name__)
    if not found:
        for attr, func in vars(module).items():
            match = _NAME.match(attr)
            if not match or not inspect.isfunction(func) or func.__module__ != module.__name__:
                continue
            name, suffix = match.group(1).upper(), match.group(2)
            engine = _engine_of(suffix)
            found.setdefault(name, {})[engine] = adapt(func, engine)
            if engine == "bndl_dask":
                titles[name] = _title(func, suffix)
    _add_peers(found)
    keyed = set(getattr(module, "KEYED", ()))
    workloads = [_shuffle_workload(name, found[name], titles.get(name, name), targets.get(name),
                                   name in keyed)
                 for name in sorted(found, key=_sort_key) if "serial" in found[name]]
    if not workloads:
        return [], "shuffle_workloads.py defines no workloads with a serial reference"
    return workloads, None


def _add_peers(found: dict[str, dict[str, Callable]]) -> None:
    """Peer engines for the shuffle workloads, from shuffle_peers.py (this harness's own)."""
    try:
        from benchmarks.shuffle_peers import PEERS
    except ImportError:
        return
    for name, engines in PEERS.items():
        if name in found:
            for engine, func in engines.items():
                found[name].setdefault(engine, adapt(func, engine))


def all_workloads() -> tuple[dict[str, Workload], list[str]]:
    """Every workload, in run order, and notes about ones that could not be loaded."""
    workloads = dict(REGISTRY)
    shuffles, note = load_shuffle_workloads()
    for workload in shuffles:
        workloads.setdefault(workload.name, workload)
    order = sorted(workloads, key=_sort_key)
    return {name: workloads[name] for name in order}, [note] if note else []


def _sort_key(name: str) -> tuple:
    match = re.match(r"^W(\d+)$", name)
    return (0, int(match.group(1)), "") if match else (1, 0, name)
