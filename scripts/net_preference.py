"""Write the router's preference list for the net engine from `voxelprompt eval` reports.

    voxelprompt eval --engine net --against atlas --seeds 50-51 --structure ... --output compare.json
    voxelprompt eval --engine net --lesions --seeds 50-54 --output lesions.json
    python scripts/net_preference.py compare.json lesions.json src/voxelprompt/vision/data/textnet3d-preference.json

A structure is preferred when the network's mean Dice on the report's cases is above the atlas
engine's. "Lesion", the pathology the lesion network answers, goes to the network only when its
lesion check passes (mean lesion Dice >= 0.70 and lesion-free scans reported absent in >= 95 % of
cases); other pathology is never preferred, as the check does not score it. Use development seeds here,
not the seeds the benchmark table reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LESION_DICE_MIN = 0.70
ABSENT_RATE_MIN = 0.95


def main(report_path: str, lesions_path: str, out_path: str) -> None:
    report = json.loads(Path(report_path).read_text())
    lesions = json.loads(Path(lesions_path).read_text())
    comparison = report.get("comparison")
    if report.get("engine") != "net" or not comparison or comparison.get("other_engine") != "atlas":
        sys.exit("error: give a report of `voxelprompt eval --engine net --against atlas`")
    rows = comparison["structures"]
    out = {"source": "voxelprompt eval --engine net --against atlas; voxelprompt eval --engine net --lesions",
           "cases": [c["case"] for c in report["cases"]],
           "net_preferred": sorted(s for s, v in rows.items() if v["difference"] > 0),
           "dice": {s: {"net": round(v["dice"], 4), "atlas": round(v["other_dice"], 4)} for s, v in rows.items()},
           "lesion_cases": [c["case"] for c in lesions["lesion_cases"]],
           "mean_lesion_dice": round(lesions["mean_lesion_dice"], 4),
           "absent_rate_lesion_free": round(lesions["absent_rate_lesion_free"], 4),
           "lesion_check": {"mean_lesion_dice_min": LESION_DICE_MIN, "absent_rate_min": ABSENT_RATE_MIN},
           "pathology_validated": lesions["mean_lesion_dice"] >= LESION_DICE_MIN
           and lesions["absent_rate_lesion_free"] >= ABSENT_RATE_MIN}
    Path(out_path).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{len(out['net_preferred'])} of {len(rows)} structures prefer the net engine; pathology "
          f"{'validated' if out['pathology_validated'] else 'not validated'}; wrote {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python scripts/net_preference.py COMPARE.json LESIONS.json OUT.json")
    main(sys.argv[1], sys.argv[2], sys.argv[3])
