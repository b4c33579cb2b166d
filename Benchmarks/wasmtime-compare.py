#!/usr/bin/env python3
"""Times the compute kernels of Benchmarks/kernels under Wasmtime, a fresh instance per call.

The comparison point of the native engine's target (issue #14): per-invocation time of
compute-bound C functions under Wasmtime when every call instantiates a fresh Store and
Instance, as a serverless platform without snapshots would. For each kernel the module is
compiled once (wasmtime.Module); then each timed call creates a Store, gives it WASI with
stdin holding the same parameters `tabula run` passes ("{}") and stdout captured, instantiates
the module and runs _start. The time of a call covers all of that.

    pip install -r Benchmarks/requirements.txt
    python3 Benchmarks/wasmtime-compare.py                  # a table
    python3 Benchmarks/wasmtime-compare.py --json           # {"kernels": {...}, "geomeanUs": ..., "wasmtime": ...}
    python3 Benchmarks/wasmtime-compare.py --tabula .build/debug/tabula --engine native

With --tabula, each kernel also runs once under `tabula run` and its result must equal the
JSON object the kernel printed under Wasmtime; a difference exits with status 1.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import wasmtime
except ImportError:
    sys.exit("wasmtime-compare.py: the wasmtime package is missing; "
             "install it with: pip install -r Benchmarks/requirements.txt")

KERNELS = ["matmul", "sieve", "wordcount", "nbody"]
KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")
PARAMETERS = b"{}"


def wasmtime_version():
    """The installed package's version (the bindings track Wasmtime's own numbering)."""
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "unknown"


class Kernel:
    """One kernel's module, compiled once, and a way to run it in a fresh instance."""

    def __init__(self, engine, linker, name, stdin_path):
        self.name = name
        self.linker = linker
        self.engine = engine
        self.stdin_path = stdin_path
        path = os.path.join(KERNEL_DIR, name + ".wasm")
        with open(path, "rb") as f:
            binary = f.read()
        start = time.perf_counter_ns()
        self.module = wasmtime.Module(engine, binary)
        self.compile_us = (time.perf_counter_ns() - start) / 1000

    def call(self):
        """Runs _start in a new Store and Instance; returns (stdout bytes, microseconds)."""
        output = []
        start = time.perf_counter_ns()
        store = wasmtime.Store(self.engine)
        wasi = wasmtime.WasiConfig()
        wasi.stdin_file = self.stdin_path
        wasi.stdout_custom = output.append
        store.set_wasi(wasi)
        instance = self.linker.instantiate(store, self.module)
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exit:
            if exit.code != 0:
                raise RuntimeError(f"{self.name}: exited with status {exit.code}") from exit
        elapsed_us = (time.perf_counter_ns() - start) / 1000
        return b"".join(output), elapsed_us


def measure(kernel, duration, min_calls, calls):
    """Per-call times of one kernel after one untimed warm-up call; returns (output, times)."""
    output, _ = kernel.call()
    times = []
    deadline = time.perf_counter() + duration
    while True:
        if calls is not None:
            if len(times) >= calls:
                break
        elif len(times) >= min_calls and time.perf_counter() >= deadline:
            break
        produced, elapsed = kernel.call()
        if produced != output:
            raise RuntimeError(f"{kernel.name}: the output changed between calls: {output!r} then {produced!r}")
        times.append(elapsed)
    return output, times


def tabula_result(tabula, engine, name):
    """The result object of one `tabula run` of the kernel (its stdout, parsed by Tabula)."""
    command = [tabula, "run", os.path.join(KERNEL_DIR, name + ".wasm"), "--input", PARAMETERS.decode()]
    if engine:
        command += ["--engine", engine]
    run = subprocess.run(command, capture_output=True, timeout=600)
    lines = run.stdout.decode().splitlines()
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"{name}: {' '.join(command)} exited with status {run.returncode}: "
                           f"{run.stderr.decode().strip()}")
    response = json.loads(lines[0])
    if not response.get("success"):
        raise RuntimeError(f"{name}: tabula run failed: {run.stdout.decode().strip()}")
    return response["result"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kernels", nargs="*", default=KERNELS, help=f"kernels to run (default: {' '.join(KERNELS)})")
    parser.add_argument("--duration", type=float, default=2.0,
                        help="seconds of timed calls per kernel (default: 2); at least --min-calls are made")
    parser.add_argument("--min-calls", type=int, default=5, help="fewest timed calls per kernel (default: 5)")
    parser.add_argument("--calls", type=int, help="exactly this many timed calls per kernel (overrides --duration)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--tabula", metavar="PATH", help="also run each kernel once with this tabula binary and "
                        "check that its result equals Wasmtime's output")
    parser.add_argument("--engine", help="the --engine passed to tabula run (default: tabula's own default)")
    args = parser.parse_args()

    unknown = [k for k in args.kernels if k not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel {', '.join(unknown)}; choose from {', '.join(KERNELS)}")
    if args.min_calls < 1 or (args.calls is not None and args.calls < 1):
        parser.error("--min-calls and --calls must be at least 1")

    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()

    with tempfile.TemporaryDirectory() as scratch:
        stdin_path = os.path.join(scratch, "parameters.json")
        with open(stdin_path, "wb") as f:
            f.write(PARAMETERS)

        results = {}
        mismatches = []
        for name in args.kernels:
            kernel = Kernel(engine, linker, name, stdin_path)
            output, times = measure(kernel, args.duration, args.min_calls, args.calls)
            text = output.decode().strip()
            entry = {
                "p50Us": round(statistics.median(times), 1),
                "minUs": round(min(times), 1),
                "calls": len(times),
                "compileUs": round(kernel.compile_us, 1),
                "output": json.loads(text),
            }
            if args.tabula:
                tabula = tabula_result(args.tabula, args.engine, name)
                entry["tabulaMatches"] = tabula == entry["output"]
                if not entry["tabulaMatches"]:
                    mismatches.append(f"{name}: wasmtime printed {text}, tabula returned {json.dumps(tabula)}")
            results[name] = entry

    geomean = math.exp(sum(math.log(r["p50Us"]) for r in results.values()) / len(results))
    report = {"kernels": results, "geomeanUs": round(geomean, 1), "wasmtime": wasmtime_version()}

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"Wasmtime {report['wasmtime']}, a fresh Store and Instance per call")
        print(f"{'kernel':<10} {'p50 us':>10} {'min us':>10} {'calls':>6}  output")
        for name, r in results.items():
            check = {True: "  (= tabula)", False: "  (DIFFERS from tabula)"}.get(r.get("tabulaMatches"), "")
            print(f"{name:<10} {r['p50Us']:>10.1f} {r['minUs']:>10.1f} {r['calls']:>6}  "
                  f"{json.dumps(r['output'], separators=(',', ':'))}{check}")
        print(f"{'geomean':<10} {report['geomeanUs']:>10.1f}")
    for mismatch in mismatches:
        print("wasmtime-compare.py: " + mismatch, file=sys.stderr)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
