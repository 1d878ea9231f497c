"""Experiment: lesions as intensity outliers from the deformably aligned template (not shipped).

For each case of ``voxelprompt eval --lesions``: the net engine's test-time alignment
(``NetEngine.deformed_prior``) gives the atlas position of every voxel; the ICBM 2009a T1 read
there, repainted in the scan's contrast (median scan intensity per template-intensity bin, with a
smooth multiplicative bias fitted alongside), is the expected image. A voxel scores the distance
of its smoothed intensity from the range of expected values within ``REACH_MM`` (so that small
misregistrations at tissue borders do not count), outside the ventricles and CSF the atlas marks
(there the templates' anatomy differs most); lesions are the components of score > LOW that
survive an opening of ``OPEN_MM``, reach HIGH somewhere and hold at least ``MIN_ML``.

    python scripts/lesion_outliers.py 300 301 302      # prints a JSON summary

Settings were chosen on seeds 50-55. See benchmarks/README.md for what it measured.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy import ndimage

from voxelprompt.engines.net import LESION_MOVING, NetEngine
from voxelprompt.evaluation.cases import make_case
from voxelprompt.evaluation.harness import DEFAULT_TEMPLATES
from voxelprompt.evaluation.lesions import paint_lesions
from voxelprompt.measure.overlap import dice
from voxelprompt.vision.lesion_residual import CSF_IDS, ball, expected_image
from voxelprompt.vision.templates import atlas_labels, template

SMOOTH_MM, REACH_MM, OPEN_MM, ERODE_MM = 1.0, 2.0, 1.5, 3.0
CSF_MARGIN_MM = 1.0
LOW, HIGH, GROW, MIN_ML = 0.1, 0.3, 0.05, 0.5


def find_lesions(d, t, warped_labels, spacing):
    atlas_brain = warped_labels > 0
    expected, bias = expected_image(d, t, atlas_brain, spacing)
    ds = ndimage.gaussian_filter(d, SMOOTH_MM / spacing)
    inner = ndimage.binary_erosion(ndimage.binary_fill_holes(ndimage.binary_dilation(atlas_brain, ball(0.5, spacing))),
                                   ball(ERODE_MM, spacing))
    inner &= ~ndimage.binary_dilation(np.isin(warped_labels, CSF_IDS), ball(CSF_MARGIN_MM, spacing))
    nearest = ndimage.distance_transform_edt(~atlas_brain, sampling=spacing, return_distances=False,
                                             return_indices=True)
    e, b = expected[tuple(nearest)], np.maximum(bias[tuple(nearest)], 0.2)
    fp = ball(REACH_MM, spacing)
    hi_e, lo_e = ndimage.grey_dilation(e, footprint=fp), ndimage.grey_erosion(e, footprint=fp)
    score = np.where(inner, np.maximum(np.maximum(lo_e - ds, ds - hi_e), 0) / b, 0)
    cand = ndimage.binary_opening(score > LOW, ball(OPEN_MM, spacing))
    lbl, _ = ndimage.label(cand)
    keep = np.unique(lbl[(score > HIGH) & cand])
    core = np.isin(lbl, keep[keep > 0])
    mask = core | (ndimage.binary_dilation(core, ball(2.0, spacing)) & inner & (np.abs(ds - e) / b > GROW))
    lbl, n = ndimage.label(mask)
    if n:
        ml = ndimage.sum(mask, lbl, range(1, n + 1)) * np.prod(spacing) / 1000
        mask = np.isin(lbl, 1 + np.flatnonzero(ml >= MIN_ML))
    return mask


def main(seeds: list[int]) -> dict:
    engine = NetEngine()
    t1, labels = template("icbm2009a"), atlas_labels("freesurfer")
    t1_data = np.asarray(t1.array, np.float32)
    t1_data /= np.percentile(t1_data[t1_data > 0.05 * t1_data.max()], 99.5)
    lesion_rows, clean_rows = [], []
    for seed in seeds:
        for k, name in enumerate(DEFAULT_TEMPLATES):
            for clean in (False, True):
                s = seed * 10 + k + (5 if clean else 0)
                case = make_case(s, name)
                truth = None
                if not clean:
                    case, truth = paint_lesions(case, s)
                reg = engine.deformed_prior(case.image, moving=LESION_MOVING)  # the T1 it reads is the plain one
                vt, vl = reg.voxels_in("t1", t1.affine), reg.voxels_in("freesurfer", labels.affine)
                ok = np.all(np.isfinite(vt), -1)
                t, lab = np.zeros(ok.shape, np.float32), np.zeros(ok.shape, np.int16)
                t[ok] = ndimage.map_coordinates(t1_data, vt[ok].T, order=1)
                lab[ok] = ndimage.map_coordinates(np.asarray(labels.array), vl[ok].T, order=0)
                raw = np.asarray(case.image.array, np.float32)
                lo, hi = np.percentile(raw[raw != 0], [0.5, 99.5])
                spacing = np.asarray(case.image.spacing, float)
                mask = find_lesions((raw - lo) / (hi - lo), t, lab, spacing)
                ml = float(mask.sum() * case.image.voxel_volume / 1000)
                if clean:
                    clean_rows.append({"case": case.name, "found_ml": round(ml, 2)})
                else:
                    lesion_rows.append({"case": case.name, "kind": case.description["lesions"],
                                        "dice": round(dice(mask, truth).value, 3),
                                        "lesion_ml": round(case.description["lesion_ml"], 2),
                                        "found_ml": round(ml, 2)})
                print(json.dumps((clean_rows if clean else lesion_rows)[-1]), file=sys.stderr, flush=True)
    return {"seeds": seeds, "lesion_cases": lesion_rows, "lesion_free_cases": clean_rows,
            "mean_lesion_dice": float(np.mean([r["dice"] for r in lesion_rows])),
            "absent_rate_lesion_free": float(np.mean([r["found_ml"] == 0 for r in clean_rows]))}


if __name__ == "__main__":
    print(json.dumps(main([int(a) for a in sys.argv[1:]]), indent=1))
