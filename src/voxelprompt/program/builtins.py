"""The builtins a program can call. Each states its argument types and the units of its result.

Every function takes the interpreter first (hidden from programs); the registry's spec is what a
planner sees (`voxelprompt functions --json`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from voxelprompt.engines import Prompts, UnsupportedConcept
from voxelprompt.errors import VoxelPromptError
from voxelprompt.measure import (
    Quantity,
    asymmetry_index,
    connected_components,
    intensity_stats,
    max_diameter,
    percent_change,
    ratio,
    region_volume,
    surface_area,
)
from voxelprompt.measure.shape import centroid as centroid_of
from voxelprompt.program.language import ProgramError
from voxelprompt.program.registry import Registry
from voxelprompt.program.values import Answer, Image, Region
from voxelprompt.volume.registration import align as align_volumes

REGISTRY = Registry()
MAX_RADIUS_MM = 30.0
MAX_INSTANCES = 200


class ConceptRefused(ProgramError):
    """A concept is unknown, invalid or not supported: the request must be refused, not guessed."""

    def __init__(self, problem: str, fix: str | None = None, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(problem, fix)
        self.suggestions = suggestions


def _region(value: Any, what: str = "region") -> Region:
    if not isinstance(value, Region):
        raise ProgramError(f"{what} must be a region (from segment()), not {type(value).__name__}")
    return value


def _derived(ip, name: str, like: Region, mask: np.ndarray) -> Region:
    region = Region(name, like.mask.with_array(mask, channel_names=None, intensity_unit="label"), like.image,
                    "derived", None, like.confidence, {"from": like.name})
    ip.context.regions.append(region)
    return region


def _about(q: Quantity, region: Region) -> Quantity:
    return Quantity(q.value, q.unit, q.name, {**q.provenance, "region": region.name})


def _same_grid(a: Region, b: Region) -> None:
    if not a.mask.same_grid(b.mask):
        raise ProgramError(f"'{a.name}' and '{b.name}' are on different grids",
                           "align the images first (align) and segment on the same image")


# -- images and segmentation -------------------------------------------------------------------------
@REGISTRY.register(category="images")
def image(ip, role: str | None = None) -> Image:
    """The input image with ``role`` (t1, t2, flair, ct, visit1, visit2, image1 ...); the first if omitted."""
    return ip.context.image(role)


@REGISTRY.register(category="images")
def roles(ip) -> list:
    """The roles of the input images, in the order given (list of text)."""
    return list(ip.context.images)


@REGISTRY.register(category="segmentation")
def segment(ip, image: Image, concept: str, box: list | None = None, points: list | None = None,
            engine: str | None = None) -> Region:
    """Segment ``concept`` (free text such as "left hippocampus") in ``image``; returns a region.

    ``box`` is ``[x0, y0, z0, x1, y1, z1]`` and ``points`` a list of ``[x, y, z]``, in world mm (RAS).
    ``engine`` picks an engine by name (labels, atlas ...). An unknown concept, or one no engine
    supports (a tumour for the atlas engine, an organ outside the brain), is refused with suggestions.
    """
    if not isinstance(image, Image):
        raise ProgramError(f"segment() needs an image (from image()), not {type(image).__name__}")
    match = ip.context.matcher.match(str(concept))
    if match.status != "matched" or match.ref is None:
        raise ConceptRefused(match.message or f"'{concept}' is not a known concept",
                             f"did you mean: {', '.join(match.suggestions)}" if match.suggestions else None,
                             match.suggestions)
    prompts = Prompts()
    if box is not None:
        if len(box) != 6:
            raise ProgramError("box must be [x0, y0, z0, x1, y1, z1] in mm")
        prompts.boxes_mm.append(tuple(float(v) for v in box))  # type: ignore[arg-type]
    for p in points or []:
        if len(p) != 3:
            raise ProgramError("each point must be [x, y, z] in mm")
        prompts.points_mm.append(tuple(float(v) for v in p))  # type: ignore[arg-type]
    try:
        chosen = ip.context.router.pick(match.ref, image.volume.metadata.modality, engine)
    except UnsupportedConcept as exc:
        raise ConceptRefused(exc.problem, exc.fix) from None
    seg = chosen.segment([image.volume], match.ref, prompts)
    both = match.ref.side == "both" and match.ref.concept.lateral
    name = f"left and right {match.ref.name}" if both else match.ref.name
    if len(ip.context.images) > 1:
        name = f"{name} ({image.role})"
    region = Region(name, seg.mask, image.role, seg.engine, None, seg.confidence,
                    {**seg.provenance, "concept": str(concept), "matched": match.ref.name,
                     "kind": match.ref.concept.kind, "normative_ml": match.ref.concept.normative_ml,
                     "lateral": match.ref.concept.lateral, "side": match.ref.side})
    ip.context.regions.append(region)
    return region


# -- measurements ------------------------------------------------------------------------------------
@REGISTRY.register(category="measure")
def volume(ip, region: Region) -> Quantity:
    """Volume of ``region`` in mL (voxel count x voxel volume); px^3 for images without mm spacing."""
    r = _region(region)
    return _about(region_volume(r.array, r.mask), r)


@REGISTRY.register(category="measure")
def area(ip, region: Region) -> Quantity:
    """Surface area of ``region`` in mm^2 (marching cubes on the physical grid)."""
    r = _region(region)
    return _about(surface_area(r.array, r.mask), r)


@REGISTRY.register(category="measure")
def diameter(ip, region: Region) -> Quantity:
    """Largest distance between two voxel centres of ``region``, in mm."""
    r = _region(region)
    return _about(max_diameter(r.array, r.mask), r)


@REGISTRY.register(category="measure")
def centroid(ip, region: Region) -> Quantity:
    """Centre of mass of ``region`` in world mm (RAS+: +x toward the patient's right, +y anterior, +z up)."""
    r = _region(region)
    return _about(centroid_of(r.array, r.mask), r)


@REGISTRY.register(category="measure")
def intensity(ip, region: Region, image: Image | None = None, stat: str = "mean") -> Quantity:
    """Intensity statistic (mean, median, std, min, max, p05, p95) of ``image`` inside ``region``.

    The unit is the image's intensity unit (HU for CT, a.u. for MRI). ``image`` defaults to the
    image the region was segmented on.
    """
    r = _region(region)
    img = image if image is not None else ip.context.image(r.image)
    if not isinstance(img, Image):
        raise ProgramError("image must be an image (from image())")
    if not r.present:
        raise ProgramError(f"'{r.name}' is empty; there is no intensity to measure")
    vol = img.volume
    if not vol.same_grid(r.mask):
        raise ProgramError(f"'{r.name}' is not on the grid of image '{img.role}'", "align the images first")
    stats = intensity_stats(r.array, vol)
    if stat not in stats:
        raise ProgramError(f"unknown statistic '{stat}'", f"use one of: {', '.join(stats)}")
    return _about(stats[stat], r)


@REGISTRY.register(category="measure")
def count(ip, region: Region) -> Quantity:
    """Number of connected components (instances) of ``region`` (26-connected), unit 1."""
    r = _region(region)
    comps = connected_components(r.array, r.mask)
    return Quantity(float(comps.count), "1", "count", {"region": r.name})


@REGISTRY.register(category="measure")
def instances(ip, region: Region) -> list:
    """The connected components of ``region`` as separate regions, largest first (at most 200)."""
    r = _region(region)
    comps = connected_components(r.array, r.mask)
    if comps.count > MAX_INSTANCES:
        raise ProgramError(f"'{r.name}' has {comps.count} components (limit {MAX_INSTANCES})",
                           "restrict it or keep the largest components first")
    return [_derived(ip, f"{r.name} #{k}", r, comps.labels == k) for k in range(1, comps.count + 1)]


# -- comparisons -------------------------------------------------------------------------------------
def _quantity(value: Any, what: str) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int | float):
        return Quantity(float(value), "1", what)
    raise ProgramError(f"{what} must be a measured value, not {type(value).__name__}")


@REGISTRY.register(name="ratio", category="compare")
def ratio_(ip, numerator: Quantity, denominator: Quantity) -> Quantity:
    """``numerator / denominator`` as a fraction (unit 1; the units must match)."""
    a, b = _quantity(numerator, "numerator"), _quantity(denominator, "denominator")
    q = ratio(a, b)
    return Quantity(q.value, "1", "ratio", {"numerator": _label(a), "denominator": _label(b)})


@REGISTRY.register(category="compare")
def change(ip, before: Quantity, after: Quantity) -> Quantity:
    """Percent change from ``before`` to ``after`` in % (negative means it shrank)."""
    a, b = _quantity(before, "before"), _quantity(after, "after")
    q = percent_change(a, b)
    return Quantity(q.value, "%", "percent_change", {"before": _label(a), "after": _label(b)})


@REGISTRY.register(category="compare")
def difference(ip, a: Quantity, b: Quantity) -> Quantity:
    """``a - b`` in the shared unit of both (e.g. mL)."""
    qa, qb = _quantity(a, "a"), _quantity(b, "b")
    if qa.unit != qb.unit:
        raise ProgramError(f"cannot subtract {qb.unit} from {qa.unit}")
    return Quantity(float(qa) - float(qb), qa.unit, "difference", {"a": _label(qa), "b": _label(qb)})


@REGISTRY.register(category="compare")
def asymmetry(ip, left: Quantity, right: Quantity) -> Quantity:
    """Asymmetry index ``(L - R) / ((L + R) / 2)`` as a signed fraction (positive: left larger)."""
    a, b = _quantity(left, "left"), _quantity(right, "right")
    q = asymmetry_index(a, b)
    return Quantity(q.value, "1", "asymmetry_index", {"left": _label(a), "right": _label(b)})


@REGISTRY.register(category="compare")
def normalize(ip, value: Quantity, image: Image | None = None) -> Quantity:
    """``value`` (a volume in mL) divided by the intracranial volume of ``image``, as a fraction (unit 1)."""
    q = _quantity(value, "value")
    if q.unit != "mL":
        raise ProgramError("only volumes (mL) can be normalised by intracranial volume")
    img = image if image is not None else ip.context.image()
    icv_region = segment(ip, img, "intracranial volume")
    icv = region_volume(icv_region.array, icv_region.mask)
    out = ratio(q, icv)
    return Quantity(out.value, "1", "icv_fraction", {"value": _label(q), "icv_ml": round(float(icv), 3)})


def _label(q: Quantity) -> str:
    region = q.provenance.get("region")
    return f"{region} {q.name}" if region else q.name


# -- sets and morphology -----------------------------------------------------------------------------
@REGISTRY.register(category="regions")
def union(ip, *regions: Region) -> Region:
    """Voxels in any of ``regions`` (same grid)."""
    rs = [_region(r) for r in regions]
    if not rs:
        raise ProgramError("union() needs at least one region")
    for r in rs[1:]:
        _same_grid(rs[0], r)
    mask = np.logical_or.reduce([r.array for r in rs])
    return _derived(ip, " + ".join(r.name for r in rs), rs[0], mask)


@REGISTRY.register(category="regions")
def intersect(ip, a: Region, b: Region) -> Region:
    """Voxels in both ``a`` and ``b``."""
    ra, rb = _region(a), _region(b)
    _same_grid(ra, rb)
    return _derived(ip, f"{ra.name} & {rb.name}", ra, ra.array & rb.array)


@REGISTRY.register(category="regions")
def subtract(ip, a: Region, b: Region) -> Region:
    """Voxels in ``a`` but not in ``b``."""
    ra, rb = _region(a), _region(b)
    _same_grid(ra, rb)
    return _derived(ip, f"{ra.name} - {rb.name}", ra, ra.array & ~rb.array)


@REGISTRY.register(category="regions")
def restrict(ip, region: Region, to: Region) -> Region:
    """The part of ``region`` inside ``to`` (e.g. lesions within the white matter)."""
    return intersect(ip, region, to)


def _ball(grid, radius_mm: float) -> np.ndarray:
    if not 0 <= radius_mm <= MAX_RADIUS_MM:
        raise ProgramError(f"radius {radius_mm} mm is out of range", f"use 0 to {MAX_RADIUS_MM:g} mm")
    spacing = np.asarray(grid.spacing, float)
    half = np.floor(radius_mm / spacing).astype(int)
    if grid.shape[2] == 1:
        half[2] = 0
    axes = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist2 = sum((a * s) ** 2 for a, s in zip(axes, spacing))
    return dist2 <= radius_mm ** 2 + 1e-9


@REGISTRY.register(category="regions")
def dilate(ip, region: Region, mm: float) -> Region:
    """``region`` grown by a ball of radius ``mm`` millimetres (0-30 mm)."""
    r = _region(region)
    out = ndimage.binary_dilation(r.array, _ball(r.mask, float(mm)))
    return _derived(ip, f"{r.name} dilated {mm:g} mm", r, out)


@REGISTRY.register(category="regions")
def erode(ip, region: Region, mm: float) -> Region:
    """``region`` shrunk by a ball of radius ``mm`` millimetres (0-30 mm)."""
    r = _region(region)
    out = ndimage.binary_erosion(r.array, _ball(r.mask, float(mm)))
    return _derived(ip, f"{r.name} eroded {mm:g} mm", r, out)


@REGISTRY.register(category="regions")
def largest(ip, region: Region) -> Region:
    """The largest connected component of ``region``."""
    r = _region(region)
    comps = connected_components(r.array, r.mask)
    return _derived(ip, f"largest part of {r.name}", r, comps.labels == 1)


@REGISTRY.register(category="regions")
def fill_holes(ip, region: Region) -> Region:
    """``region`` with its enclosed holes filled."""
    r = _region(region)
    return _derived(ip, f"{r.name} filled", r, ndimage.binary_fill_holes(r.array))


@REGISTRY.register(category="regions")
def present(ip, region: Region) -> bool:
    """Whether ``region`` holds any voxel (true/false)."""
    return _region(region).present


# -- multiple scans and location ---------------------------------------------------------------------
@REGISTRY.register(category="images")
def align(ip, moving: Image, fixed: Image) -> Image:
    """``moving`` registered rigidly (mutual information) and resampled onto ``fixed``'s grid."""
    if not isinstance(moving, Image) or not isinstance(fixed, Image):
        raise ProgramError("align() needs two images")
    result = align_volumes(moving.volume, fixed.volume, transform="rigid")
    return Image(f"{moving.role} on {fixed.role}", result.volume)


def _anatomy_labels(ip, image: Image):
    """FreeSurfer-LUT labels on ``image``'s grid from the first engine that has them (a given label map
    first, since the labels engine leads the engine list)."""
    for eng in ip.context.engines:
        if hasattr(eng, "label_map"):
            return eng.label_map([image.volume])
    raise ProgramError("no engine can label the anatomy here", "supply a label map with --labels")


@REGISTRY.register(category="regions")
def locate(ip, region: Region) -> list:
    """Which anatomical structures ``region`` overlaps: [name, fraction of the region] pairs, largest first.

    Structures holding under 1 % of the region are left out; at most 10 are listed.
    """
    r = _region(region)
    if not r.present:
        raise ProgramError(f"'{r.name}' is empty; there is nothing to locate")
    labels = _anatomy_labels(ip, ip.context.image(r.image))
    values = np.asarray(labels.array)[r.array]
    ids, counts = np.unique(values, return_counts=True)
    vocab = ip.context.matcher.vocabulary
    out = []
    for lab_id, n in sorted(zip(ids.tolist(), counts.tolist()), key=lambda t: -t[1]):
        if n / values.size < 0.01:
            break
        ref = vocab.by_fs_id(int(lab_id)) if lab_id else None
        out.append([ref.name if ref else ("outside labelled anatomy" if lab_id == 0 else f"label {lab_id}"),
                    round(n / values.size, 4)])
    return out[:10]


@REGISTRY.register(category="regions")
def structures(ip, image: Image | None = None) -> list:
    """The anatomical structures labelled in ``image`` (from its label map or the atlas): [name, volume mL] pairs."""
    img = image if image is not None else ip.context.image()
    labels = _anatomy_labels(ip, img)
    ids, counts = np.unique(np.asarray(labels.array), return_counts=True)
    vocab = ip.context.matcher.vocabulary
    ml = labels.voxel_volume / 1000.0 if labels.is_physical else 1.0
    out = []
    for lab_id, n in zip(ids.tolist(), counts.tolist()):
        ref = vocab.by_fs_id(int(lab_id)) if lab_id else None
        if ref is not None:
            out.append([ref.name, round(n * ml, 4)])
    return out


# -- the answer ----------------------------------------------------------------------------------
@REGISTRY.register(category="answer")
def answer(ip, text: str, values: Any = None) -> str:
    """Finish with ``text`` and the values it reports (a quantity, a list of them, or a dict name -> quantity)."""
    if isinstance(values, dict):
        items = [(_quantity(v, str(k)), str(k)) for k, v in values.items()]
    elif isinstance(values, list | tuple):
        items = [(_quantity(v, "value"), None) for v in values]
    elif values is None:
        items = []
    else:
        items = [(_quantity(values, "value"), None)]
    quantities = []
    for q, name in items:
        if "step" not in q.provenance:
            q = Quantity(q.value, q.unit, q.name, {**q.provenance, "step": ip.current_step})
        if name:
            q = Quantity(q.value, q.unit, q.name, {**q.provenance, "label": name})
        quantities.append(q)
    ip.context.answer = Answer(str(text), quantities, ip.current_step)
    return str(text)


# -- plain helpers -------------------------------------------------------------------------------
def _numbers(values: Any) -> Any:
    return [float(v) if isinstance(v, Quantity) else v for v in values]


@REGISTRY.register(name="len", category="basic")
def len_(ip, items: list) -> int:
    """Number of items in a list, tuple, dict or text."""
    return len(items)


@REGISTRY.register(name="range", category="basic")
def range_(ip, start: int, stop: int | None = None, step: int = 1) -> range:
    """Integers from ``start`` to ``stop`` (exclusive), at most the loop limit."""
    r = range(int(start)) if stop is None else range(int(start), int(stop), int(step))
    if len(r) > ip.limits.loop_iterations:
        raise ProgramError(f"range of {len(r)} items exceeds the limit of {ip.limits.loop_iterations}")
    return r


@REGISTRY.register(name="min", category="basic")
def min_(ip, *values: Any) -> Any:
    """Smallest of the values (or of one list)."""
    items = list(values[0]) if len(values) == 1 and isinstance(values[0], list | tuple) else list(values)
    return min(items, key=lambda v: float(v) if isinstance(v, Quantity) else v)


@REGISTRY.register(name="max", category="basic")
def max_(ip, *values: Any) -> Any:
    """Largest of the values (or of one list)."""
    items = list(values[0]) if len(values) == 1 and isinstance(values[0], list | tuple) else list(values)
    return max(items, key=lambda v: float(v) if isinstance(v, Quantity) else v)


@REGISTRY.register(name="sum", category="basic")
def sum_(ip, values: list) -> Any:
    """Sum of a list of numbers or of quantities with one unit (the unit is kept)."""
    items = list(values)
    if items and all(isinstance(v, Quantity) for v in items):
        units = {v.unit for v in items}
        if len(units) != 1:
            raise ProgramError("cannot add quantities with different units")
        return Quantity(sum(float(v) for v in items), units.pop(), items[0].name, {"terms": len(items)})
    return sum(_numbers(items))


@REGISTRY.register(name="abs", category="basic")
def abs_(ip, value: Any) -> Any:
    """Absolute value (a quantity keeps its unit)."""
    if isinstance(value, Quantity):
        return Quantity(abs(float(value)), value.unit, value.name, value.provenance)
    return abs(value)


@REGISTRY.register(name="round", category="basic")
def round_(ip, value: Any, digits: int = 0) -> Any:
    """``value`` rounded to ``digits`` decimals (a quantity keeps its unit)."""
    if isinstance(value, Quantity):
        return Quantity(round(float(value), int(digits)), value.unit, value.name, value.provenance)
    return round(value, int(digits))


@REGISTRY.register(name="str", category="basic")
def str_(ip, value: Any) -> str:
    """``value`` as text (a quantity with its unit)."""
    return str(value)


@REGISTRY.register(name="float", category="basic")
def float_(ip, value: Any) -> float:
    """``value`` as a plain number (drops a quantity's unit)."""
    return float(value)


@REGISTRY.register(name="print", category="basic")
def print_(ip, *values: Any) -> None:
    """Add a note to the current step of the trace."""
    ip.trace[-1].warnings.append(" ".join(str(v) for v in values)[:500])


def describe_registry() -> list[dict[str, Any]]:
    """The tool specification: every builtin with its signature and documented units."""
    if not REGISTRY.names():  # pragma: no cover - registration happens at import
        raise VoxelPromptError("no builtins registered")
    return REGISTRY.spec()
