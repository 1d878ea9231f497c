"""How well an engine can do on `voxelprompt eval` cases of a template when nothing is done to the template.

    python scripts/anatomy_ceiling.py --engine net            # or --engine atlas
    python scripts/anatomy_ceiling.py --engine net --json

An evaluation case's truth is the FreeSurfer label map (cvs_avg35 in MNI space) carried through
the case's deformation in the template's own world coordinates. Here the "case" is the template
itself (no deformation, reslicing, contrast change, bias or noise), and its truth the label map
read at the template's voxels. An engine that aligns another template (the ICBM 2009a T1) to the
scan can only reach the Dice that the two templates' anatomies allow: this is that ceiling, per
template, over the twelve structures of `voxelprompt eval`.
"""

from __future__ import annotations

import json
import time

import numpy as np
import typer
from scipy import ndimage

from voxelprompt.concepts import default_matcher, load_vocabulary
from voxelprompt.engines import available_engines
from voxelprompt.evaluation.harness import DEFAULT_STRUCTURES, DEFAULT_TEMPLATES
from voxelprompt.measure.overlap import dice
from voxelprompt.vision.templates import atlas_labels, template
from voxelprompt.volume import Volume


def labels_on(image: Volume) -> np.ndarray:
    """The FreeSurfer label map read (nearest) at every voxel of ``image``, through world coordinates."""
    labels = atlas_labels("freesurfer")
    ijk = np.indices(image.shape[:3], dtype=np.float64).reshape(3, -1)
    to_labels = np.linalg.inv(labels.affine) @ image.affine
    vox = to_labels[:3, :3] @ ijk + to_labels[:3, 3:]
    return ndimage.map_coordinates(np.asarray(labels.array), vox, order=0, cval=0).reshape(image.shape[:3])


def main(engine: str = typer.Option("net", help="atlas or net"),
         as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    engines = {e.name: e for e in available_engines()}
    if engine not in engines:
        raise typer.BadParameter(f"no engine called '{engine}'; choose one of: {', '.join(engines)}")
    matcher, vocabulary = default_matcher(), load_vocabulary()
    refs = [matcher.match(text).ref for text in DEFAULT_STRUCTURES]
    report = {"engine": engine, "structures": list(DEFAULT_STRUCTURES), "templates": {}}
    for name in DEFAULT_TEMPLATES:
        image = template(name)
        truth = labels_on(image)
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
