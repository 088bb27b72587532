"""Run the benchmark workloads on every engine in one go and print medians and ratios.

    python benchmarks/run.py                        # everything, 3 samples per cell
    python benchmarks/run.py --workloads W1,W6 --repeat 5
    python benchmarks/run.py --quick                # tiny sizes: checks the harness works
    python benchmarks/run.py --sweep                # W2, W3, W7 at 4, 16 and 64 partitions
    python benchmarks/run.py --scale                # W2 and W2 at 10x (20 M records)
    python benchmarks/run.py --keys int,str,tuple,kb --workloads W2,W3,W7

Every engine is started once (startup is reported, not scored) and kept for the whole run. The
samples are taken in rounds (each round runs every workload on every engine), so slow drifts in
the load of a shared machine hit all engines alike. See README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable as a package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report, variants  # noqa: E402
from benchmarks.engines import ENGINE_NAMES, Engine, make_engine  # noqa: E402
from benchmarks.records import KEY_TYPES, check_key_types  # noqa: E402
from benchmarks.report import Cell  # noqa: E402
from benchmarks.workloads import REGISTRY, Workload, all_workloads  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", help="comma-separated names (default: all), e.g. W1,W5")
    parser.add_argument("--engines", help=f"comma-separated subset of {','.join(ENGINE_NAMES)} "
                                          "(serial always runs: it is the reference)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="samples per cell (default 3, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="a cell whose first sample takes longer than this many seconds is "
                             "not repeated (default 60)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the driver RSS probes of icollect / collect")
    parser.add_argument("--json", metavar="PATH", help="also write all samples as JSON here")
    parser.add_argument("--partitions", type=int, default=16, metavar="N",
                        help="partitions of every workload on every engine (default 16; W6 and "
                             "the IC probes keep theirs)")
    parser.add_argument("--sweep", nargs="?", const="4,16,64", metavar="COUNTS",
                        help="run each workload (default: W2,W3,W7) at each of these partition "
                             "counts (default 4,16,64) and print the sweep table")
    parser.add_argument("--scale", nargs="?", type=float, const=variants.SCALE_FACTOR,
                        metavar="FACTOR", help="also run W2 (or the --workloads given) with "
                                               "FACTOR times the records (default 10: 20 M)")
    parser.add_argument("--keys", default="int", metavar="TYPES",
                        help=f"key types of the key-wise workloads, comma-separated: "
                             f"{', '.join(KEY_TYPES)} (default int; see records.py)")
    parser.add_argument("--isolate", action="store_true",
                        help="only the engine being sampled runs: the others' clusters are "
                             "stopped, and each round samples one engine at a time")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.partitions < 1:
        parser.error("--partitions must be at least 1")
    if args.scale is not None and args.scale <= 0:
        parser.error("--scale must be positive")
    try:
        args.sweep = variants.parse_counts(args.sweep) if args.sweep else None
        args.keys = check_key_types(args.keys)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def select(args: argparse.Namespace) -> tuple[dict[str, Workload], list[str], list[str]]:
    workloads, notes = all_workloads()
    requested = args.workloads
    if not requested and args.sweep:
        requested = ",".join(variants.SWEEP_DEFAULT)
    elif not requested and args.scale:
        requested = ",".join(variants.SCALE_DEFAULT)
    if requested:
        wanted = [w.strip() for w in requested.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in workloads]
        if unknown:
            raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; known: "
                             f"{', '.join(workloads)}" + (f" ({notes[0]})" if notes else ""))
        workloads = {name: workloads[name] for name in wanted}
    workloads = variants.with_key_types(workloads, args.keys)
    workloads = variants.with_partitions(workloads, args.partitions)
    if args.sweep:
        workloads = variants.with_sweep(workloads, args.sweep)
    if args.scale:
        scaled = [w.strip() for w in requested.split(",")] if requested else \
            list(variants.SCALE_DEFAULT)
        workloads = variants.with_scale(workloads, args.scale, scaled, args.partitions)
    engines = list(ENGINE_NAMES)
    if args.engines:
        wanted = {e.strip() for e in args.engines.split(",") if e.strip()}
        unknown = wanted - set(ENGINE_NAMES)
        if unknown:
            raise SystemExit(f"unknown engine(s) {', '.join(sorted(unknown))}")
        engines = [e for e in ENGINE_NAMES if e in wanted or e == "serial"]
    used = {e for w in workloads.values() for e in w.engines}
    return workloads, [e for e in engines if e in used], notes


def same(result: Any, reference: Any, ordered: bool) -> str | None:
    """None when ``result`` equals serial Python's, else a short description of the difference."""
    if result == reference:
        return None
    if isinstance(result, tuple) and isinstance(reference, list) and list(result) == reference:
        return None
    if not ordered and isinstance(result, (list, tuple)) and isinstance(reference, (list, tuple)):
        try:
            if sorted(result) == sorted(reference):
                return None
        except TypeError:
            if sorted(map(repr, result)) == sorted(map(repr, reference)):
                return None
    shown = repr(result)
    return f"got {shown[:60]}{'...' if len(shown) > 60 else ''}"


class Runner:
    def __init__(self, args: argparse.Namespace, workloads: dict[str, Workload],
                 engines: list[Engine]):
        self.args = args
        self.workloads = workloads
        self.engines = engines
        self.results: dict[str, dict[str, Cell]] = {
            name: {e.name: Cell() for e in engines if e.name in w.engines}
            for name, w in workloads.items()}
        self.references: dict[str, Any] = {}
        self.interrupted = False

    def sample(self, workload: Workload, engine: Engine) -> None:
        if _stop_requested:
            raise KeyboardInterrupt
        cell = self.results[workload.name][engine.name]
        if cell.error is not None or cell.capped:
            return
        func = workload.engines[engine.name]
        sizes = workload.sizes(self.args.quick)
        try:
            if engine.name == "serial":
                elapsed, result = engine.timed(func, sizes)
            else:
                began = time.perf_counter()
                result = func(engine.handle, **sizes)
                elapsed = time.perf_counter() - began
        except Exception as exc:
            cell.error = f"{type(exc).__name__}: {exc}"
            print(f"  {workload.name} on {engine.name}: {cell.error}", file=sys.stderr)
            return
        if engine.name == "serial":
            self.references.setdefault(workload.name, result)
        elif cell.mismatch is None:
            cell.mismatch = same(result, self.references.get(workload.name), workload.ordered)
            if cell.mismatch:
                print(f"  {workload.name} on {engine.name}: result differs from serial Python's: "
                      f"{cell.mismatch}", file=sys.stderr)
        cell.samples.append(elapsed)
        print(f"  {workload.name:<8} {engine.name:<11} {report.seconds(elapsed)}",
              file=sys.stderr, flush=True)
        if len(cell.samples) == 1 and elapsed > self.args.budget:
            cell.capped = True

    def run(self) -> None:
        """Take the samples; an interrupt (Ctrl-C, SIGTERM) ends the run early, keeping what it
        has for the report."""
        try:
            self._rounds()
        except KeyboardInterrupt:
            self.interrupted = True

    def _rounds(self) -> None:
        repeat = self.args.repeat
        serial = [e for e in self.engines if e.name == "serial"]
        others = [e for e in self.engines if e.name != "serial"]
        for round_no in range(repeat):
            began = time.perf_counter()
            # serial first (it provides the reference); the others in an order that rotates
            # each round, so no engine always runs right after a heavy one
            shift = round_no % len(others) if others else 0
            order = serial + others[shift:] + others[:shift]
            if self.args.isolate:
                self._isolated_round(order, repeat)
                print(f"round {round_no + 1}/{repeat} done in "
                      f"{time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
                continue
            for workload in self.workloads.values():
                per_round = max(1, math.ceil(workload.min_samples / repeat))
                for engine in order:
                    if engine.name in workload.engines:
                        settle(self.engines)
                        for _ in range(per_round):
                            self.sample(workload, engine)
            print(f"round {round_no + 1}/{repeat} done in {time.perf_counter() - began:.1f} s",
                  file=sys.stderr, flush=True)


    def _isolated_round(self, order: list[Engine], repeat: int) -> None:
        """One round engine by engine (serial first: it gives the references), each alone:
        the other engines' clusters are stopped before it is sampled, and it is started (and
        warmed up, untimed) again if an earlier round stopped it."""
        for engine in order:
            if engine.name != "serial":
                for other in self.engines:
                    if other is not engine and other.name != "serial" and other.handle is not None:
                        other.stop()
                if engine.handle is None:
                    engine.start()
                    warm_up([engine])
            for workload in self.workloads.values():
                if engine.name in workload.engines:
                    settle([engine])
                    for _ in range(max(1, math.ceil(workload.min_samples / repeat))):
                        self.sample(workload, engine)


def start_engines(names: list[str], notes: list[str]) -> list[Engine]:
    started = []
    for name in names:
        engine = make_engine(name)
        why_not = engine.available()
        if why_not:
            notes.append(f"{name} skipped: {why_not}")
            continue
        try:
            engine.start()
        except Exception as exc:
            notes.append(f"{name} skipped: failed to start ({type(exc).__name__}: {exc})")
            continue
        started.append(engine)
    return started


def memory_probes(quick: bool) -> dict[str, dict]:
    """Each mode in a fresh process (see memprobe.py): peak RSS growth of the driver."""
    n, pcount = (200_000, 20) if quick else (10_000_000, 100)
    runs = [("icollect-range", n, pcount), ("icollect-list", n, pcount),
            ("collect-list", n, pcount)]
    memory = {}
    for mode, size, parts in runs:
        print(f"memory probe {mode} ({size:,} elements)", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, os.path.join(_HERE, "memprobe.py"), mode,
                               str(size), str(parts)], capture_output=True, text=True,
                              timeout=600)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            memory[mode] = {"error": (proc.stderr or proc.stdout).strip() or "no output"}
        else:
            memory[mode] = json.loads(lines[-1])
    return memory


class CpuWatch:
    """How much of the machine's CPU went to processes other than this run during it."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.began = time.perf_counter()
        self.busy = self._busy()
        self.ours = self._ours()

    def _busy(self) -> float:
        times = self._psutil.cpu_times()
        return times.user + times.system + getattr(times, "nice", 0.0)

    def _ours(self) -> float:
        # a process's children_* times hold its children that have exited (engines stopped by
        # --isolate, their workers): without them their CPU would count as someone else's
        me = self._psutil.Process()
        total = 0.0
        for proc in [me, *me.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except self._psutil.Error:
                pass
        return total

    def foreign_share(self) -> float:
        wall = time.perf_counter() - self.began
        foreign = (self._busy() - self.busy) - (self._ours() - self.ours)
        return max(0.0, foreign) / (wall * (os.cpu_count() or 1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # e.g. from `timeout`: still print the report
    workloads, engine_names, notes = select(args)
    load_before = os.getloadavg()
    engines = start_engines(engine_names, notes)
    try:
        try:
            watch: CpuWatch | None = CpuWatch()
        except Exception:
            watch = None
        runner = Runner(args, workloads, engines)
        warm_up(engines)
        runner.run()
        foreign = watch.foreign_share() if watch else None
    finally:
        for engine in reversed(engines):
            try:
                engine.stop()
            except Exception as exc:
                notes.append(f"stopping {engine.name} failed: {exc}")
    load_after = os.getloadavg()
    extras: dict[str, Any] = {}
    if not args.no_memory and "IC-list" in workloads and not runner.interrupted:
        extras["memory"] = memory_probes(args.quick)
    return print_report(args, workloads, engines, runner, extras, notes,
                        (load_before, load_after, foreign))


def settle(engines: list[Engine], timeout: float = 10.0) -> None:
    """Wait (untimed) until no cluster of this run is still busy, then collect garbage.

    The dask schedulers of bndl_dask and of the LocalCluster run in this process: a cluster
    still releasing the keys of the previous sample (5,000 of them after W5) would otherwise
    slow down whichever engine samples next. Busy = tasks processing, or the number of tasks
    the scheduler knows still changing (keys held on purpose, e.g. a broadcast, are stable).
    """
    clients = {id(c): c for c in (_client_of(e) for e in engines) if c is not None}
    deadline = time.monotonic() + timeout
    for client in clients.values():
        previous = None
        while time.monotonic() < deadline:
            try:
                known, processing = client.run_on_scheduler(_scheduler_activity)
            except Exception:
                break
            if known == 0 or (processing == 0 and known == previous):
                break
            previous = known
            time.sleep(0.1)
    gc.collect()


def _client_of(engine: Engine) -> Any:
    handle = engine.handle
    if engine.name == "bndl_dask" and handle is not None:
        return handle.executor
    if engine.name in ("dask_bag", "dask_graph", "client_map"):
        return handle
    return None


def _scheduler_activity(dask_scheduler=None) -> tuple[int, int]:
    processing = sum(len(ws.processing) for ws in dask_scheduler.workers.values())
    return len(dask_scheduler.tasks), processing


_stop_requested = False


def _interrupt(_signum: int, _frame: Any) -> None:
    # The KeyboardInterrupt can land in a callback that swallows it (distributed's garbage
    # collection timer does): the flag makes the next sample stop the run all the same.
    global _stop_requested
    _stop_requested = True
    raise KeyboardInterrupt


def warm_up(engines: list[Engine]) -> None:
    """One untimed small job per engine, so first-use costs (imports on the workers, opening
    connections) are not scored."""
    small = REGISTRY["W6"]
    for engine in engines:
        func = small.engines.get(engine.name)
        if func is not None and engine.name != "serial":
            try:
                func(engine.handle, **small.full)
            except Exception as exc:  # the timed samples will report it
                print(f"  warm-up on {engine.name} failed: {exc}", file=sys.stderr)


def print_report(args, workloads, engines, runner, extras, notes, load) -> int:
    names = [e.name for e in engines]
    out = [f"bndl_dask benchmarks: {'quick sizes' if args.quick else 'full sizes'}, "
           f"{args.repeat} round(s), {args.partitions} partitions, {os.cpu_count()} CPUs, "
           f"Python {platform.python_version()}", ""]
    for engine in engines:
        startup = f"started in {engine.startup_s:.1f} s" if engine.startup_s else ""
        out.append(f"  {engine.name:<11} {engine.info} {startup}".rstrip())
    out += ["", "Workloads:"]
    for name, w in workloads.items():
        sizes = ", ".join(f"{k}={v:,}" if isinstance(v, int) and not isinstance(v, bool)
                          else f"{k}={v}" for k, v in w.sizes(args.quick).items() if k != "quick")
        out.append(f"  {name:<8} {w.title}" + (f" ({sizes})" if sizes else "")
                   + (f"\n           {w.note}" if w.note else ""))
    out += ["", "Median wall time per call (time.perf_counter, startup excluded):",
            report.medians_table(runner.results, names), "",
            "Ratios from this run (below 1 = bndl_dask faster):",
            report.ratios_table(runner.results, names), "",
            "Each engine over serial/2 (1 = perfect use of 2 workers):",
            report.half_serial_table(runner.results, names), ""]
    if "memory" in extras:
        out += ["Driver peak RSS growth (fresh process per mode, sampled every 2 ms):",
                report.memory_table(extras["memory"]), ""]
    if args.sweep:
        out += [f"Partition sweep: each engine's median over serial/2 (issue 15), at "
                f"{', '.join(map(str, args.sweep))} partitions:",
                variants.sweep_table(runner.results, names, args.sweep), ""]
    targets, missed = report.targets_table(workloads, runner.results, extras)
    if args.scale:
        scale_rows, scale_missed = variants.scale_table(runner.results, names)
        out += [f"Scale: {args.scale:g}x the records against 1x, same partition count:",
                scale_rows, ""]
        missed += scale_missed
    out += ["Targets (issue 15):", targets, ""]
    problems = [f"{name}/{engine}: {cell.error or 'result differs: ' + str(cell.mismatch)}"
                for name, cells in runner.results.items() for engine, cell in cells.items()
                if cell.error or cell.mismatch]
    for mode, probe in extras.get("memory", {}).items():
        if "error" in probe:
            problems.append(f"memory probe {mode}: {probe['error'].strip()[-300:]}")
    before, after, foreign = load
    noise = (f"load average {before[0]:.2f} before, {after[0]:.2f} after"
             + (f"; other processes used {foreign:.0%} of the CPUs during the run"
                if foreign is not None else ""))
    spread = report.noisiest(runner.results)
    out.append("Noise: " + noise + (f"; largest spreads (max-min)/median: {', '.join(spread)}"
                                    if spread else ""))
    out.append("The machine is shared: compare ratios within one run, not absolute times "
               "across runs.")
    if runner.interrupted:
        notes.append("the run was interrupted: medians are over the samples taken until then")
    for note in notes:
        out.append(f"Note: {note}")
    for problem in problems:
        out.append(f"PROBLEM: {problem}")
    if missed:
        out.append("Missed targets: " + "; ".join(missed))
    print("\n".join(out), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(
                quick=args.quick, repeat=args.repeat, notes=notes, missed=missed,
                engines={e.name: dict(info=e.info, startup_s=e.startup_s) for e in engines},
                samples={name: {e: dict(samples=c.samples, error=c.error, mismatch=c.mismatch)
                                for e, c in cells.items()}
                         for name, cells in runner.results.items()},
                extras=extras, load=dict(before=before, after=after, foreign_share=foreign)),
                f, indent=1)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
