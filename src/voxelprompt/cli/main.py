"""The ``voxelprompt`` command: a thin layer over the Python API.

Every command prints JSON with ``--json``; bad input ends in a one-line ``error:`` message on
stderr and exit status 1, never a traceback (set ``VOXELPROMPT_DEBUG=1`` to see one).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import typer
from rich.progress import track

from voxelprompt import __version__
from voxelprompt.cli.output import fmt, print_error, print_json, print_table, stderr, stdout
from voxelprompt.errors import InputFileError, VoxelPromptError

app = typer.Typer(
    name="voxelprompt",
    help="Grounded, language-driven medical image analysis: volumes, measurements with units.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _version(value: bool) -> None:
    if value:
        stdout.print(f"voxelprompt {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details on stderr."),
    deterministic: bool = typer.Option(
        False, "--deterministic",
        help="Run registration single-threaded so that the same scan always gives bit-identical masks and "
             "numbers (the atlas engine takes about 1.6x longer)."),
) -> None:
    """voxelprompt: ask questions about scans; get numbers with units and masks in your geometry."""
    if deterministic:  # ITK reads it when it first starts its threads, so it must come before any registration
        from voxelprompt.engines.atlas import REPRODUCIBLE_THREADS

        os.environ[REPRODUCIBLE_THREADS] = "1"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _progress(items: list, label: str, min_items: int = 5) -> Iterable:
    """A progress bar on stderr for ``min_items`` items or more (only on a terminal)."""
    return track(items, description=label, console=stderr, transient=True,
                 disable=not stderr.is_terminal or len(items) < min_items)


@app.command()
def info(
    file: Path = typer.Argument(..., help="Image, mask or label map (NIfTI, MGZ, NRRD, DICOM, PNG...)."),
    as_json: bool = JsonOpt,
) -> None:
    """Show shape, spacing, orientation, affine, data type and value range of FILE."""
    from voxelprompt.volume import load
    from voxelprompt.volume.describe import describe

    desc = describe(load(file))
    if as_json:
        print_json(desc)
        return
    rows = [[k, v] for k, v in desc.items() if k != "affine" and v not in (None, [], "")]
    print_table(str(file), ["field", "value"], rows)
    stdout.print("affine (voxel -> world RAS+):", highlight=False)
    for row in desc["affine"]:
        stdout.print("  " + "  ".join(f"{v:10.4f}" for v in row), highlight=False)


@app.command()
def measure(
    mask: Path = typer.Argument(..., help="Mask or label map (0 = background)."),
    image: Path | None = typer.Option(None, "--image", "-i",
                                         help="Image on the same grid, for intensity statistics."),
    label: list[int] | None = typer.Option(None, "--label", "-l",
                                              help="Measure only this label (repeatable)."),
    connectivity: int = typer.Option(26, help="Connected-component neighbourhood: 6, 18, 26 (2D: 4, 8)."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                          help="Also write the table to a .json or .csv file."),
    as_json: bool = JsonOpt,
) -> None:
    """Measure every label of MASK: volume, surface area, diameters, centroid, components, intensity."""
    from voxelprompt.measure import measure_labels
    from voxelprompt.report import write_table
    from voxelprompt.volume import load

    labels = load(mask)
    img = load(image) if image is not None else None
    results = measure_labels(labels, image=img, connectivity=connectivity, only=label,
                             progress=lambda items: _progress(list(items), "measuring labels"))
    if label and not results:
        raise VoxelPromptError(f"none of the labels {label} is present in {mask}",
                               "run without --label to see which labels exist")
    records = [r.to_json() for r in results]
    if output is not None:
        write_table(records, output)
    if as_json:
        print_json({"file": str(mask), "image": str(image) if image else None,
                    "spacing_unit": "mm" if labels.is_physical else "pixel", "labels": records})
        return
    size_key = next(k for k in records[0] if k.startswith(("volume_", "area_")))
    surf_key = next(k for k in records[0] if k.startswith(("surface_area_", "perimeter_")))
    diam_key = next(k for k in records[0] if k.startswith("max_diameter_"))
    cent_key = next(k for k in records[0] if k.startswith("centroid_"))
    cols = ["label", size_key, surf_key, diam_key, cent_key, "components"]
    if img is not None:
        cols.append("mean intensity")
    rows = []
    for r in records:
        row = [r["label"], r[size_key], r[surf_key], r[diam_key], r[cent_key], r["components"]]
        if img is not None:
            row.append(r["intensity"]["mean"])
        rows.append(row)
    print_table(f"{mask}", cols, rows)


@app.command()
def resample(
    moving: Path = typer.Argument(..., help="Image or label map to resample."),
    like: Path = typer.Option(..., "--like", help="Reference whose grid the output takes."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file (.nii.gz, .mgz, .nrrd)."),
    labels: bool = typer.Option(False, "--labels", help="MOVING is a mask/label map: keep labels."),
    as_json: bool = JsonOpt,
) -> None:
    """Resample MOVING onto the voxel grid of --like (linear for images, label-preserving with --labels)."""
    from voxelprompt.volume import load, save
    from voxelprompt.volume.describe import describe
    from voxelprompt.volume.geometry import resample_to

    reference = load(like)
    moved = resample_to(load(moving), reference, interpolation="label" if labels else "linear")
    out = reference.with_array(moved.array, channel_names=moved.metadata.channel_names)
    save(out, output)
    _report_written(output, describe(out), as_json)


@app.command()
def reorient(
    file: Path = typer.Argument(..., help="Image or label map."),
    to: str = typer.Option("RAS", "--to", help="Target axis codes, e.g. RAS, LPS, LIA."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file."),
    as_json: bool = JsonOpt,
) -> None:
    """Permute and flip the voxel axes of FILE (no interpolation; world positions unchanged)."""
    from voxelprompt.volume import load, save
    from voxelprompt.volume.describe import describe
    from voxelprompt.volume.geometry import reorient as reorient_volume

    out = reorient_volume(load(file), to)
    save(out, output)
    _report_written(output, describe(out), as_json)


@app.command()
def align(
    moving: Path = typer.Argument(..., help="Scan to move (e.g. FLAIR, or the later visit)."),
    fixed: Path = typer.Argument(..., help="Reference scan (e.g. T1, or the first visit)."),
    output: Path = typer.Option(..., "--output", "-o", help="Moved scan on the fixed grid."),
    transform: str = typer.Option("rigid", help="rigid or affine."),
    labels: bool = typer.Option(False, "--labels", help="MOVING is a label map: keep labels."),
    as_json: bool = JsonOpt,
) -> None:
    """Register MOVING to FIXED (mutual information, works across contrasts) and resample it."""
    from voxelprompt.volume import load, save
    from voxelprompt.volume.registration import align as align_volumes

    fixed_vol = load(fixed)
    result = align_volumes(load(moving), fixed_vol, transform=transform,  # type: ignore[arg-type]
                           interpolation="label" if labels else "linear")
    save(fixed_vol.with_array(result.moved.array), output)
    payload = {"output": str(output), "transform": result.transform,
               "fixed_to_moving_mm": result.fixed_to_moving_mm.round(6).tolist(),
               "metric": result.metric}
    if as_json:
        print_json(payload)
    else:
        stdout.print(f"wrote {output} ({result.transform}, metric {result.metric:.4f})", highlight=False)


@app.command()
def sample(
    name: str | None = typer.Argument(None, help="Sample name; omit to list them."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the path of a real sample file shipped by an installed package (or list them)."""
    from voxelprompt.samples import SAMPLES, sample_path

    if name is not None:
        path = sample_path(name)
        if as_json:
            print_json({"name": name, "path": str(path)})
        else:
            sys.stdout.write(f"{path}\n")
        return
    listing = [{"name": s.name, "package": s.package, "description": s.description,
                "license": s.license} for s in SAMPLES.values()]
    if as_json:
        print_json({"samples": listing})
    else:
        print_table("samples", ["name", "package", "description"],
                    [[s["name"], s["package"], s["description"]] for s in listing])


@app.command()
def concepts(
    search: str | None = typer.Option(None, "--search", "-s", help="Match this text to the vocabulary."),
    as_json: bool = JsonOpt,
) -> None:
    """List the concept vocabulary, or match --search TEXT to it (laterality parsed explicitly)."""
    from voxelprompt.concepts import default_matcher, load_vocabulary

    vocab = load_vocabulary()
    if search is not None:
        match = default_matcher().match(search)
        if as_json:
            print_json(match.to_json())
        elif match.status == "matched" and match.ref is not None:
            stdout.print(f"{search!r} -> {match.ref.name} ({match.ref.concept.kind}, {match.method}, "
                         f"score {match.score:.2f})", highlight=False)
        else:
            stdout.print(f"{search!r}: {match.message}", highlight=False)
        if match.status != "matched":
            raise typer.Exit(1)
        return
    refs = vocab.refs()
    records = [{"name": r.name, "structure": r.concept.name, "side": r.side, "kind": r.concept.kind,
                "region": r.concept.region, "group": r.concept.group,
                "fs_ids": vocab.labels(r, "freesurfer"), "atlases": vocab.atlases_for(r),
                "synonyms": list(r.concept.synonyms)} for r in refs]
    if as_json:
        print_json({"version": vocab.version, "count": len(records), "concepts": records})
        return
    print_table(f"voxelprompt concepts v{vocab.version} ({len(records)})", ["name", "kind", "FreeSurfer ids",
                                                                           "atlases"],
                [[r["name"], r["kind"], r["fs_ids"][:6], ", ".join(r["atlases"])] for r in records])


@app.command()
def segment(
    images: list[Path] = typer.Argument(..., help="Image(s); the first sets the output grid."),
    concept: list[str] = typer.Option(..., "--concept", "-c", help="What to segment, in words (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the masks (NIfTI, input geometry)."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="Engine name (default: the router picks)."),
    box: tuple[float, float, float, float] | None = typer.Option(
        None, "--box", help="Box X0 Y0 X1 Y1: pixels of a picture or frame, world mm on a volume's slice."),
    point: tuple[float, float] | None = typer.Option(None, "--point", help="Point X Y (positive), like --box."),
    negative: bool = typer.Option(False, "--negative", help="Make --point a negative (background) point."),
    prompts_file: Path | None = typer.Option(None, "--prompts", help="JSON list of prompts, one per instance: "
                                             '[{"box": [x0,y0,x1,y1], "points": [[x,y]], "negative_points": []}].'),
    frame: int | None = typer.Option(None, "--frame", help="Frame or slice index to prompt (default: the middle)."),
    pixels: bool = typer.Option(False, "--pixels", help="Read --box/--point in pixels even on a volume."),
    propagate: bool = typer.Option(False, "--propagate", help="Carry the prompt to neighbouring frames/slices."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=10, help="Refinement rounds in all (1: no refinement)."),
    critic: str = typer.Option("rules", "--critic", help="Refinement critic: rules, or openai (vision model)."),
    llm_url: str | None = typer.Option(None, "--llm-url", help="OpenAI-compatible endpoint of the vision critic."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Model name of the vision critic."),
    segmenter: str = typer.Option("boxprompt", "--segmenter", help="Prompted segmenter: boxprompt, otsu or sam."),
    weights: Path | None = typer.Option(None, "--weights", help="Fine-tuned boxprompt weights (.safetensors)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="SAM-family model folder (Hugging Face "
                                           "format) for --segmenter sam."),
    as_json: bool = JsonOpt,
) -> None:
    """Segment each --concept in IMAGES and write one mask per concept into --output.

    With --box, --point or --prompts (and always for 2D pictures) the prompted segmenter finds one
    instance per prompt, refines it, and measures each instance.
    """
    from voxelprompt.concepts import default_matcher
    from voxelprompt.engines import UnsupportedConcept, default_router
    from voxelprompt.measure.shape import region_volume
    from voxelprompt.volume import load, save_mask

    volumes = [load(p) for p in images]
    prompted = box is not None or point is not None or prompts_file is not None
    if prompted or _is_picture(volumes[0]):
        from voxelprompt.cli.prompt_segment import PromptOptions, segment_prompted

        if len(images) > 1 or engine is not None:
            raise VoxelPromptError("prompted segmentation takes one image and no --engine",
                                   "give one picture, frame sequence or volume; choose the model with --segmenter")

        opts = PromptOptions(box, point, negative, prompts_file, frame, pixels, propagate, rounds, critic, llm_url,
                             llm_model, segmenter, weights, checkpoint)
        results = [segment_prompted(volumes[0], str(images[0]), text, output, opts) for text in concept]
        if as_json:
            print_json({"results": results})
        else:
            print_table("instances", ["concept", "id", "frame", "score", "area", "long axis", "circularity"],
                        [[r["concept"], i["id"], i["frame"], i["score"], i.get("area_mm2", i.get("area_px2")),
                          i.get("longest_diameter_mm", i.get("longest_diameter_px")), i["circularity"]]
                         for r in results for i in r["instances"]])
            for r in results:
                stdout.print(f"{r['concept']}: {r['instance_count']} instance(s); mask {r['file']}; "
                             f"overlay {r['overlay']}", highlight=False)
        if all(r["status"] != "segmented" for r in results):
            raise typer.Exit(1)
        return
    matcher, router = default_matcher(), default_router()
    results = []
    for text in _progress(list(concept), "segmenting", min_items=2):
        match = _finetuned_3d(text) or matcher.match(text)  # a concept the user taught comes first
        if match.status != "matched" or match.ref is None:
            results.append({"concept": text, "matched": None, "status": "unknown", "file": None,
                            "volume_ml": None, "present": False, "engine": None, "reason": match.message,
                            "suggestions": list(match.suggestions)})
            continue
        try:
            chosen = router.pick(match.ref, volumes[0].metadata.modality, engine)
        except UnsupportedConcept as exc:
            results.append({"concept": text, "matched": match.ref.name, "status": "refused", "file": None,
                            "volume_ml": None, "present": False, "engine": None, "reason": exc.problem})
            continue
        seg = chosen.segment(volumes, match.ref)
        name = match.ref.name.replace(" ", "_").replace("/", "-")
        output.mkdir(parents=True, exist_ok=True)
        path = save_mask(seg.mask.array, volumes[0], output / f"{name}.nii.gz")
        results.append({"concept": text, "matched": match.ref.name, "status": "segmented", "file": str(path),
                        "volume_ml": region_volume(seg.mask.array, volumes[0]).value, "present": seg.present,
                        "engine": seg.engine, "confidence": seg.confidence, "provenance": seg.provenance})
    if as_json:
        print_json({"results": results})
    else:
        print_table("segmentations", ["concept", "matched", "volume_ml", "engine", "file"],
                    [[r["concept"], r["matched"], r["volume_ml"], r["engine"], r["file"] or r.get("reason")]
                     for r in results])
    if all(r["status"] != "segmented" for r in results):
        raise typer.Exit(1)


def _finetuned_3d(text: str):
    """A match for a concept taught to the 3D network by ``voxelprompt finetune`` (None if there is none)."""
    from voxelprompt.cli.finetune3d import custom_ref
    from voxelprompt.concepts.matcher import Match
    from voxelprompt.engines.finetuned import finetuned_weights

    ref = custom_ref(text)
    if finetuned_weights(ref.name, kind="3d") is None:
        return None
    return Match(text, "matched", ref, "fine-tuned", 1.0)


def _is_picture(volume) -> bool:
    """Whether a loaded image is a 2D picture: any PNG/JPEG/TIFF, or a single DICOM picture."""
    meta = volume.metadata
    return meta.format == "raster" or (meta.format == "dicom" and bool(meta.is_2d))


@app.command(name="eval")
def eval_command(
    engine: str = typer.Option("atlas", "--engine", "-e", help="Engine to evaluate (atlas or net)."),
    seeds: str = typer.Option("0-2", help="Seeds: '0-2' or '3,7,9'; one case per seed and template."),
    template: list[str] | None = typer.Option(None, "--template", "-t", help="Case templates (repeatable)."),
    structure: list[str] | None = typer.Option(None, "--structure", help="Structures to score (repeatable)."),
    against: str | None = typer.Option(None, "--against", help="Score a second engine on the same cases and "
                                       "compare per structure; or give a report.json that eval --output "
                                       "wrote for the same seeds, templates and structures."),
    lesions: bool = typer.Option(False, "--lesions", help="Score lesion finding instead: painted lesions (Dice) "
                                 "and lesion-free cases (reported absent?)."),
    weights: Path | None = typer.Option(None, "--weights", help="Network weights for the net engine "
                                        "(default: the shipped ones)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the report as JSON."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Cases scored at once, each in its own process with "
                             "an even share of the CPU cores (2 on 2 cores finishes about 1.5x sooner; seconds "
                             "per case are then those of fewer threads)."),
    as_json: bool = JsonOpt,
) -> None:
    """Score an engine on synthetic cases from real templates: Dice, HD95, NSD and time per case."""
    from voxelprompt.evaluation import DEFAULT_STRUCTURES, DEFAULT_TEMPLATES, compare_reports, run_eval
    from voxelprompt.evaluation.harness import check_comparable
    from voxelprompt.evaluation.lesions import run_lesion_eval
    from voxelprompt.report import write_json

    chosen = _engine_named(engine, weights)
    seed_list = _parse_seeds(seeds)
    templates = tuple(template or DEFAULT_TEMPLATES)
    progress = lambda name: stderr.print(f"case {name}", highlight=False)  # noqa: E731
    parallel = {"jobs": jobs, "engine_factory": partial(_engine_named, engine, weights)}
    if lesions:
        report = run_lesion_eval(chosen, seed_list, templates=templates, progress=progress, **parallel)
        if output is not None:
            write_json(report, output)
        if as_json:
            print_json(report)
            return
        print_table("lesion cases", ["case", "lesions", "lesion mL", "Dice", "found"],
                    [[c["case"], c["lesions"], c["lesion_ml"], c["dice"], c["present"]]
                     for c in report["lesion_cases"]])
        stdout.print(f"mean lesion Dice {report['mean_lesion_dice']:.3f}; lesion-free cases reported absent: "
                     f"{100 * report['absent_rate_lesion_free']:.0f} %", highlight=False)
        return
    structures = tuple(structure or DEFAULT_STRUCTURES)
    saved = _saved_report(Path(against)) if against is not None and against.endswith(".json") else None
    if saved is not None:
        try:
            check_comparable(saved, seed_list, templates, structures)
        except ValueError as exc:
            raise VoxelPromptError(f"cannot compare with {against}: {exc}",
                                   "give the same --seeds, --template and --structure as that report") from exc
    report = run_eval(chosen, seed_list, templates=templates, structures=structures, progress=progress, **parallel)
    if against is not None:
        other = saved or run_eval(_engine_named(against, None), seed_list, templates=templates,
                                  structures=structures, progress=progress, jobs=jobs,
                                  engine_factory=partial(_engine_named, against, None))
        report = compare_reports(report, other)
    if output is not None:
        write_json(report, output)
    if as_json:
        print_json(report)
        return
    print_table("cases", ["case", "spacing_mm", "seconds", "mean Dice"],
                [[c["case"], c["spacing_mm"], c["seconds"], c["mean_dice"]] for c in report["cases"]])
    print_table("structures", ["structure", "Dice", "HD95 mm", "NSD"],
                [[s, v["dice"], v["hd95_mm"], v["nsd"]] for s, v in report["structures"].items()])
    stdout.print(f"mean Dice {report['mean_dice']:.3f}; median {report['median_seconds_per_case']:.1f} s per case",
                 highlight=False)
    if against is not None:
        cmp = report["comparison"]
        stdout.print(f"{against}: mean Dice {cmp['other_mean_dice']:.3f} on the same cases "
                     f"(difference {cmp['mean_dice_difference']:+.3f}); {engine} better on "
                     f"{len(cmp['better'])} of {len(structures)} structures", highlight=False)


def _engine_named(name: str, weights: Path | None):
    """An engine by name; ``weights`` picks the network's weights file."""
    from voxelprompt.engines import available_engines
    from voxelprompt.engines.net import NetEngine

    if name == "net":
        engine = NetEngine(weights)
        if not engine.available():
            raise VoxelPromptError("no network weights are installed", "give --weights FILE.safetensors")
        return engine
    if weights is not None:
        raise VoxelPromptError("--weights applies to the net engine only", "drop --weights or use --engine net")
    chosen = next((e for e in available_engines() if e.name == name), None)
    if chosen is None:
        raise VoxelPromptError(f"no engine called '{name}'", "choose one of: atlas, net")
    return chosen


def _saved_report(path: Path) -> dict:
    """A report that ``voxelprompt eval --output`` wrote."""
    import json

    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"cannot read report {path}: {exc}",
                             "give a report.json written by eval --output") from exc
    if not isinstance(report, dict) or not {"engine", "cases", "structures", "mean_dice"} <= set(report):
        raise InputFileError(f"{path} is not an eval report", "give a report.json written by eval --output")
    return report


def _parse_seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise VoxelPromptError(f"cannot read seeds '{text}'", "write them as 0-2 or 3,7,9") from exc


def _report_written(path: Path, desc: dict, as_json: bool) -> None:
    if as_json:
        print_json({"output": str(path), **desc})
    else:
        stdout.print(f"wrote {path}: shape {fmt(desc['shape'])}, orientation {desc['orientation']}",
                     highlight=False)


# The commands in these modules register themselves on ``app``.
from voxelprompt.cli import agent_commands, vision_commands  # noqa: E402,F401


def run() -> None:
    """Console entry point: runs the app and turns errors into one-line messages."""
    debug = os.environ.get("VOXELPROMPT_DEBUG") == "1"
    try:
        app()
    except VoxelPromptError as exc:
        if debug:
            raise
        print_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input: still no traceback unless debugging
        if debug:
            raise
        print_error(f"internal error ({type(exc).__name__}: {exc}); rerun with VOXELPROMPT_DEBUG=1 "
                    "and report the traceback")
        sys.exit(1)


if __name__ == "__main__":
    run()
