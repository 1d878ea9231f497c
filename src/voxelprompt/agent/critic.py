"""The critic: looks at each segmentation before anything is reported from it.

Checks: empty; size far outside the concept's normative adult range; fragmented (largest part
under 70 % of the region); wrong side (a left structure lying to the right of its right
counterpart); low engine confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxelprompt.measure import connected_components
from voxelprompt.program import Region

SIZE_SLACK = 3.0  # a region this many times outside the normative range is implausible
MIN_LARGEST_PART = 0.7
MIN_CONFIDENCE = 0.5


@dataclass
class Finding:
    """One problem with a region: ``kind`` is empty, size, fragmented, side or confidence."""

    region: str
    kind: str
    message: str
    retry: bool

    def to_json(self) -> dict:
        return {"region": self.region, "kind": self.kind, "message": self.message}


def review(region: Region) -> list[Finding]:
    """Findings on one segmented region (empty list when it looks right)."""
    if not region.present:
        return [Finding(region.name, "empty", f"no voxel of '{region.name}' was found", True)]
    out: list[Finding] = []
    normative = region.provenance.get("normative_ml")
    if normative and region.mask.is_physical and not region.mask.is_2d:
        low, high = normative
        if region.provenance.get("side") == "both" and region.provenance.get("lateral"):
            low, high = 2 * low, 2 * high
        ml = region.voxels * region.mask.voxel_volume / 1000.0
        if ml < low / SIZE_SLACK or ml > high * SIZE_SLACK:
            out.append(Finding(region.name, "size", f"'{region.name}' measures {ml:.3g} mL, far outside the usual "
                                                   f"adult range {low:g}-{high:g} mL", True))
    both_sides = region.provenance.get("side") == "both" and region.provenance.get("lateral")
    if region.provenance.get("kind") == "anatomy" and not both_sides:
        comps = connected_components(region.array, region.mask)
        if comps.count > 1:
            largest = float(comps.sizes[0].value) / sum(float(s.value) for s in comps.sizes)
            if largest < MIN_LARGEST_PART:
                out.append(Finding(region.name, "fragmented", f"'{region.name}' is in {comps.count} pieces; the "
                                                             f"largest holds {largest:.0%}", False))
    if region.confidence < MIN_CONFIDENCE:
        out.append(Finding(region.name, "confidence", f"the engine's confidence in '{region.name}' is "
                                                     f"{region.confidence:.2f}", True))
    return out


def check_sides(regions: list[Region]) -> list[Finding]:
    """A left structure must lie on the patient's left (smaller RAS x) of its right counterpart."""
    out = []
    by_name = {r.name: r for r in regions if r.present}
    for name, left in by_name.items():
        if not name.startswith("left "):
            continue
        right = by_name.get("right " + name[5:])
        if right is None or not left.mask.same_grid(right.mask):
            continue
        xl, xr = _world_x(left), _world_x(right)
        if xl > xr:
            out.append(Finding(name, "side", f"'{name}' lies to the right of '{right.name}': the image's "
                                             f"orientation may be wrong", False))
    return out


def _world_x(region: Region) -> float:
    ijk = np.argwhere(region.array).mean(0)
    return float(region.mask.affine[0, :3] @ ijk + region.mask.affine[0, 3])
