"""Wall-clock time of `voxelprompt eval` with one job and with several, and whether they agree.

    python scripts/benchmark_parallel_eval.py --jobs 2 --runs 3 -- --engine net --seeds 100-102
    python scripts/benchmark_parallel_eval.py --jobs 2 --runs 2 -- --engine net --lesions --seeds 361-362

Everything after ``--`` goes to `voxelprompt --deterministic eval`. Each run is a fresh process,
as a user's would be; the runs alternate (one job, then several) so that a machine slowing down
midway affects both alike. Prints JSON: every wall time, their medians, the ratio of the medians,
and whether every case scored the same in every run (with --deterministic it should, bit for bit).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(eval_args: list[str], jobs: int, out: Path) -> tuple[float, list]:
    """Seconds of one `voxelprompt --deterministic eval ... --jobs N`, and its per-case results."""
    exe = shutil.which("voxelprompt") or sys.exit("error: voxelprompt is not installed (pip install -e .)")
    start = time.perf_counter()
    done = subprocess.run([exe, "--deterministic", "eval", *eval_args, "--jobs", str(jobs), "--output", str(out)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"error: voxelprompt eval failed: {done.stderr.strip().splitlines()[-1:]}")
    report = json.loads(out.read_text())
    if "cases" in report:
        cases = [(c["case"], c["scores"]) for c in report["cases"]]
    else:
        cases = [(c["case"], c["dice"], c["present"]) for c in report["lesion_cases"]]
        cases += [(c["case"], c["present"], c["found_ml"]) for c in report["lesion_free_cases"]]
    return seconds, cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="jobs of the parallel runs")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind")
    parser.add_argument("eval_args", nargs=argparse.REMAINDER, help="-- then the arguments of voxelprompt eval")
    args = parser.parse_args()
    eval_args = [a for a in args.eval_args if a != "--"]
    if args.jobs < 2 or args.runs < 1:
        sys.exit("error: --jobs must be at least 2 and --runs at least 1")
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for jobs in (1, args.jobs):
                seconds, cases = one_run(eval_args, jobs, Path(tmp) / f"{run}-{jobs}.json")
                times[jobs].append(round(seconds, 1))
                results.append(cases)
                print(f"run {run + 1}, {jobs} job(s): {seconds:.1f} s", file=sys.stderr)
    medians = {jobs: statistics.median(t) for jobs, t in times.items()}
    print(json.dumps({"eval": eval_args, "jobs": args.jobs, "runs": args.runs,
                      "cases": len(results[0]), "seconds": {str(j): t for j, t in times.items()},
                      "median_seconds": {str(j): m for j, m in medians.items()},
                      "speedup": round(medians[1] / medians[args.jobs], 2),
                      "same_results": all(r == results[0] for r in results)}, indent=2))


if __name__ == "__main__":
    main()
