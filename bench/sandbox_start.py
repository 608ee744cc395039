"""Time from `sandbox up` to ready (warm binaries), and each component's memory.

Run: uv run python bench/sandbox_start.py [--runs N]
Starts throwaway sandboxes in a temporary directory and stops them again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from helmguard.sandbox.cluster import COMPONENTS, sandbox_down, sandbox_up


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["HELMGUARD_SANDBOX_HOME"] = home
        times = []
        memory: dict[str, list[float]] = {c: [] for c in COMPONENTS}
        for run in range(args.runs):
            started = time.monotonic()
            sb = sandbox_up("bench")
            elapsed = time.monotonic() - started
            times.append(elapsed)
            time.sleep(5)  # let the controllers settle before reading memory
            for component in COMPONENTS:
                memory[component].append(rss_mib(sb.pids[component]))
            sandbox_down("bench")
            print(f"run {run + 1}: up to ready {elapsed:.2f} s")
    print(
        f"\nsandbox up -> ready: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs"
    )
    print("resident memory 5 s after ready (median MiB):")
    for component, values in memory.items():
        print(f"  {component:<24} {statistics.median(values):7.1f}")
    print(f"  {'total':<24} {sum(statistics.median(v) for v in memory.values()):7.1f}")


if __name__ == "__main__":
    main()
