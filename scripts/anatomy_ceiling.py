"""How well an engine can do on `voxelprompt eval` cases of a template when nothing is done to the template.

    python scripts/anatomy_ceiling.py --engine net            # or --engine atlas
    python scripts/anatomy_ceiling.py --engine atlas-affine   # the atlas engine without its deformable stage
    python scripts/anatomy_ceiling.py --engine net --json
    python scripts/anatomy_ceiling.py --exact-seeds 50-52     # the read-out alone, on evaluation cases

An evaluation case's truth is the FreeSurfer label map (cvs_avg35 in MNI space) carried through
the case's deformation in the template's own world coordinates. Here the "case" is the template
itself (no deformation, reslicing, contrast change, bias or noise), and its truth the label map
read at the template's voxels. An engine that aligns another template (the ICBM 2009a T1) to the
scan can only reach the Dice that the two templates' anatomies allow: this is that ceiling, per
template, over the twelve structures of `voxelprompt eval`. ``atlas-affine`` reads the label map
through the atlas engine's affine registration alone: how much the label map and the template
agree before any deformation brings the 2009a anatomy onto the template's.

``--exact-seeds`` measures the other limit, the read-out: on the evaluation's own cases (oblique,
anisotropic grids), each structure's indicator is read by linear interpolation, as both engines
read it, through the exact transform each case was made with, and thresholded at 0.5. Its Dice
against the case's truth (the label map read by nearest neighbour) is what a perfect alignment
would score; no engine is run.
"""

from __future__ import annotations

import json
import time

import numpy as np
import typer
from scipy import ndimage

from voxelprompt.cli.main import _parse_seeds
from voxelprompt.concepts import default_matcher, load_vocabulary
from voxelprompt.engines import available_engines
from voxelprompt.engines.atlas import AtlasEngine
from voxelprompt.errors import VoxelPromptError
from voxelprompt.evaluation.cases import case_geometry, make_case
from voxelprompt.evaluation.harness import DEFAULT_STRUCTURES, DEFAULT_TEMPLATES, planned_cases
from voxelprompt.measure.overlap import dice
from voxelprompt.vision.templates import atlas_labels, template
from voxelprompt.volume.geometry import resample_to


def exact_readout(seeds: list[int]) -> dict:
    """Mean Dice per evaluation case of the indicators read (linear, >= 0.5) through the case's exact transform."""
    labels = atlas_labels("freesurfer")
    atlas = np.asarray(labels.array)
    matcher, vocabulary = default_matcher(), load_vocabulary()
    ids = [vocabulary.labels(matcher.match(text).ref, "freesurfer") for text in DEFAULT_STRUCTURES]
    indicators = [np.isin(atlas, structure).astype(np.float32) for structure in ids]
    out = {}
    for seed, name in planned_cases(seeds, DEFAULT_TEMPLATES):
        case = make_case(seed, name)
        _, shape, points = case_geometry(seed)
        vox = (np.linalg.inv(labels.affine) @ np.vstack([points, np.ones(points.shape[1])]))[:3]
        truth = np.asarray(case.labels.array)
        scores = []
        for structure, indicator in zip(ids, indicators):
            read = ndimage.map_coordinates(indicator, vox, order=1, cval=0.0)
            scores.append(dice(read.reshape(shape) >= 0.5, np.isin(truth, structure)).value)
        out[case.name] = float(np.mean(scores))
    return out


def main(engine: str = typer.Option("net", help="atlas, net or atlas-affine (no deformable stage)"),
         exact_seeds: str = typer.Option("", help="instead: the read-out through each case's exact transform, "
                                                  "on the evaluation cases of these seeds (e.g. 50-52)"),
         as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    if exact_seeds:
        try:
            seeds = _parse_seeds(exact_seeds)
        except VoxelPromptError as err:
            raise typer.BadParameter(str(err)) from None
        cases = exact_readout(seeds)
        report = {"read_out": "linear indicator >= 0.5 through the exact case transform", "cases": cases,
                  "mean_dice": float(np.mean(list(cases.values())))}
        print(json.dumps(report, indent=2) if as_json else f"exact transform: mean Dice {report['mean_dice']:.3f} "
              f"over {len(cases)} cases")
        return
    engines = {e.name: e for e in available_engines()} | {"atlas-affine": AtlasEngine(deformable=False)}
    if engine not in engines:
        raise typer.BadParameter(f"no engine called '{engine}'; choose one of: {', '.join(engines)}")
    matcher, vocabulary = default_matcher(), load_vocabulary()
    refs = [matcher.match(text).ref for text in DEFAULT_STRUCTURES]
    report = {"engine": engine, "structures": list(DEFAULT_STRUCTURES), "templates": {}}
    for name in DEFAULT_TEMPLATES:
        image = template(name)
        truth = np.asarray(resample_to(atlas_labels("freesurfer"), image, interpolation="nearest").array)
        start = time.perf_counter()
        masks = [engines[engine].segment([image], ref).mask.array for ref in refs]
        scores = {ref.name: dice(np.asarray(mask, bool), np.isin(truth, vocabulary.labels(ref, "freesurfer"))).value
                  for ref, mask in zip(refs, masks)}
        report["templates"][name] = {"mean_dice": float(np.mean(list(scores.values()))), "dice": scores,
                                     "seconds": round(time.perf_counter() - start, 1)}
        if not as_json:
            print(f"{name}: mean Dice {report['templates'][name]['mean_dice']:.3f} over {len(refs)} structures")
    if as_json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(main)
