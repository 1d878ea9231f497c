"""Request benchmark: program correctness and exact-answer rate of `voxelprompt ask` on a label map.

The input is the MNI152 T1 template resampled onto the grid of the installed FreeSurfer
aparc+aseg label map, so every expected number can be computed directly from the label map.
Each request is answered by the agent (the same code path as `voxelprompt ask IMAGE --labels
LABELS "REQUEST" --json`) and scored against those numbers:

- volume: voxel count x voxel volume in mL (tolerance 0.5 %); ratio, asymmetry: as a fraction or %
  (0.5 %); surface area (15 %); max diameter (5 %); mean intensity (0.5 %); components (exact);
- refuse_or_absent: refused, or no positive volume reported.

A request counts as exact when every expected item is found among the reported values; the
program counts as correct when the segmented label sets are the expected ones.

    python scripts/benchmark_requests.py                      # shared dev set + own dev split
    python scripts/benchmark_requests.py --split heldout      # own held-out split only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from voxelprompt.agent import Agent
from voxelprompt.engines.labelmap import LabelMapEngine
from voxelprompt.measure import connected_components, intensity_stats, max_diameter, surface_area
from voxelprompt.program import ProgramContext, assign_roles
from voxelprompt.samples import sample_path
from voxelprompt.volume import load, save
from voxelprompt.volume.geometry import resample_to

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks" / "requests-dev.jsonl"
OWN = ROOT / "benchmarks" / "requests-own.jsonl"
TOLERANCE = {"volume": 0.005, "ratio": 0.005, "asymmetry": 0.005, "surface_area": 0.15, "max_diameter": 0.05,
             "mean_intensity": 0.005, "components": 0.0}
UNITS = {"volume": {"mL"}, "ratio": {"1", "%"}, "asymmetry": {"1", "%"}, "surface_area": {"mm^2"},
         "max_diameter": {"mm"}, "mean_intensity": None, "components": {"1"}}


def expected_value(item: dict, labels: np.ndarray, grid, image) -> float:
    def mask(ids):
        return np.isin(labels, ids)

    def vol(ids):
        return mask(ids).sum() * grid.voxel_volume / 1000.0

    op = item["op"]
    if op == "volume":
        return vol(item["labels"])
    if op == "ratio":
        return vol(item["num"]) / vol(item["den"])
    if op == "asymmetry":
        left, right = vol(item["left"]), vol(item["right"])
        return (left - right) / ((left + right) / 2)
    if op == "surface_area":
        return float(surface_area(mask(item["labels"]), grid).value)
    if op == "max_diameter":
        return float(max_diameter(mask(item["labels"]), grid).value)
    if op == "mean_intensity":
        return float(intensity_stats(mask(item["labels"]), image)["mean"].value)
    if op == "components":
        return float(connected_components(mask(item["labels"]), grid).count)
    raise ValueError(op)


def found(item: dict, expected: float, values: list[dict]) -> bool:
    op = item["op"]
    tol = TOLERANCE[op]
    for v in values:
        if v["value"] is None or isinstance(v["value"], list):
            continue
        if UNITS[op] is not None and v["unit"] not in UNITS[op]:
            continue
        got = float(v["value"]) / (100.0 if v["unit"] == "%" else 1.0)
        if op == "components":
            if round(got) == round(expected):
                return True
        elif abs(got - expected) <= tol * abs(expected) + 1e-9:
            return True
    return False


def program_labels(regions) -> list[set[int]]:
    return [set(r.provenance.get("labels", [])) for r in regions if r.engine != "derived"]


def program_correct(item: dict, segmented: list[set[int]]) -> bool:
    needed = {"volume": ["labels"], "surface_area": ["labels"], "max_diameter": ["labels"],
              "mean_intensity": ["labels"], "components": ["labels"], "ratio": ["num", "den"],
              "asymmetry": ["left", "right"]}[item["op"]]
    return all(set(item[k]) in segmented for k in needed)


def load_requests(split: str) -> list[dict]:
    rows = []
    if split in ("dev", "all") and SHARED.exists():
        rows += [json.loads(line) | {"source": "shared"} for line in SHARED.read_text().splitlines() if line.strip()]
    rows += [json.loads(line) | {"source": "own"} for line in OWN.read_text().splitlines()
             if line.strip() and (split == "all" or json.loads(line)["split"] == split)]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="dev")
    parser.add_argument("--json", action="store_true", help="print the per-request results as JSON")
    args = parser.parse_args()
    labels_vol = load(sample_path("dk-labels"))
    image = resample_to(load(sample_path("mni-t1")), labels_vol, interpolation="linear")
    with tempfile.TemporaryDirectory() as tmp:  # the benchmark input, as a user would pass it
        image = load(save(image, Path(tmp) / "t1.nii.gz"))
    labels = np.asarray(labels_vol.array)
    engine = LabelMapEngine(labels_vol)
    rows, exact, correct, seconds = [], 0, 0, []
    for req in load_requests(args.split):
        context = ProgramContext(assign_roles([("t1", image)]), engines=[engine])
        start = time.perf_counter()
        result = Agent(context).ask(req["request"])
        seconds.append(time.perf_counter() - start)
        values = result.values_json()
        segmented = program_labels(result.regions)
        ok_items, ok_program = [], []
        for item in req["expect"]:
            if item["op"] == "refuse_or_absent":
                positive = any(v["unit"] == "mL" and (v["value"] or 0) > 0 for v in values)
                ok = result.status == "refused" or not positive
                ok_items.append(ok)
                ok_program.append(ok)
                continue
            ok_items.append(found(item, expected_value(item, labels, labels_vol, image), values))
            ok_program.append(program_correct(item, segmented))
        is_exact, is_correct = all(ok_items), all(ok_program)
        exact += is_exact
        correct += is_correct
        rows.append({"id": req["id"], "request": req["request"], "status": result.status, "exact": is_exact,
                     "program_correct": is_correct, "answer": result.answer})
    n = len(rows)
    if args.json:
        print(json.dumps({"split": args.split, "requests": n, "exact_rate": exact / n,
                          "program_correct_rate": correct / n, "rows": rows}, indent=2))
    else:
        print(f"{'id':<5} {'exact':<6} {'prog':<5} {'status':<9} request")
        for r in rows:
            print(f"{r['id']:<5} {'yes' if r['exact'] else 'NO':<6} {'yes' if r['program_correct'] else 'NO':<5} "
                  f"{r['status']:<9} {r['request']}")
            if not r["exact"]:
                print(f"{'':<27}-> {r['answer'][:150]}")
        print(f"\nsplit {args.split}: {n} requests, exact answers {exact}/{n} ({exact / n:.0%}), "
              f"program correct {correct}/{n} ({correct / n:.0%}), median {np.median(seconds):.2f} s per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
