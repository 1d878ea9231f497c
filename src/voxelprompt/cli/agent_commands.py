"""CLI commands of the instruction language and the agent: functions, run, ask, demo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from voxelprompt.cli.main import JsonOpt, app
from voxelprompt.cli.output import print_json, print_table, stdout
from voxelprompt.errors import InputFileError, VoxelPromptError

ROLE_PATTERN = re.compile(r"^([A-Za-z][A-Za-z0-9_-]{0,31})=(.+)$")
DEMO_REQUESTS = [
    "What is the volume of the left hippocampus?",
    "Compute the hippocampal asymmetry index.",
    "Give the ratio of the left caudate to the left putamen.",
    "How large are both lateral ventricles together?",
    "Where is the right amygdala?",
    "How large is the tumour?",
]


def split_role(text: str) -> tuple[str | None, Path]:
    """``ROLE=PATH`` -> (role, path); a plain path (even one containing '=') -> (None, path)."""
    m = ROLE_PATTERN.match(text)
    if m and not Path(text).exists():
        return m.group(1), Path(m.group(2))
    return None, Path(text)


def build_context(images: list[str], labels: list[str] | None):
    """Load ``[ROLE=]IMAGE`` and ``[ROLE=]LABELMAP`` arguments into a program context."""
    from voxelprompt.engines import available_engines
    from voxelprompt.engines.labelmap import LabelMapEngine
    from voxelprompt.program import ProgramContext, assign_roles
    from voxelprompt.volume import load

    if not images:
        raise InputFileError("no image given", "pass at least one image, e.g. t1=scan.nii.gz")
    loaded = [(role, load(path)) for role, path in map(split_role, images)]
    context_images = assign_roles(loaded)
    engines = available_engines()
    label_maps = {}
    if labels:
        first_role = next(iter(context_images))
        for text in labels:
            role, path = split_role(text)
            role = (role or first_role).lower()
            if role not in context_images:
                raise VoxelPromptError(f"the label map role '{role}' matches no image",
                                       f"image roles are: {', '.join(context_images)}")
            label_maps[role] = load(path)
        owners = [context_images[role].volume for role in label_maps]
        engines = [LabelMapEngine(list(label_maps.values()), images=owners), *engines]
    return ProgramContext(context_images, engines=engines)


@app.command()
def functions(as_json: bool = JsonOpt) -> None:
    """List the functions a program (or a planner) can call, with types and units."""
    from voxelprompt.program import describe_registry

    spec = describe_registry()
    if as_json:
        print_json({"functions": spec})
        return
    print_table("functions", ["signature", "summary"], [[f["signature"], f["summary"]] for f in spec])


@app.command(name="run")
def run_program(
    program: Path = typer.Argument(..., help="Program file in the instruction language."),
    images: list[str] = typer.Argument(..., help="[ROLE=]IMAGE ... (roles: t1, flair, visit1 ...)."),
    labels: list[str] | None = typer.Option(None, "--labels", help="[ROLE=]LABELMAP with FreeSurfer LUT ids."),
    timeout: float = typer.Option(30.0, help="Stop the program after this many seconds."),
    as_json: bool = JsonOpt,
) -> None:
    """Run a program file step by step on IMAGES; print its trace and answer."""
    from voxelprompt.program import Limits, new_interpreter, parse_program, quantity_label

    if not program.is_file():
        raise InputFileError(f"program file {program} does not exist", "check the path")
    try:
        source = program.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{program} is not a UTF-8 text file", "pass a program file") from None
    parse_program(source)  # reject a bad program before loading any image
    context = build_context(images, labels)
    ip = new_interpreter(context, Limits(seconds=timeout))
    ip.run(source)
    answer = context.answer
    values = [{"name": q.provenance.get("label") or quantity_label(q), "value": q.json_value(), "unit": q.unit,
               "step": q.provenance.get("step")} for q in (answer.values if answer else [])]
    if as_json:
        print_json({"answer": answer.text if answer else None, "values": values,
                    "trace": [s.to_json() for s in ip.trace]})
        return
    for step in ip.trace:
        stdout.print(f"[{step.index}] {step.code}  ({step.seconds:.2f} s)", highlight=False)
        for note in step.warnings:
            stdout.print(f"    {note}", highlight=False)
    if answer:
        stdout.print(f"answer: {answer.text}", highlight=False)


@app.command()
def ask(
    args: list[str] = typer.Argument(..., help="[ROLE=]IMAGE ... followed by the request in quotes."),
    labels: list[str] | None = typer.Option(None, "--labels", help="[ROLE=]LABELMAP with FreeSurfer LUT ids "
                                                                   "(FreeSurfer, SynthSeg, FastSurfer ...)."),
    planner: str = typer.Option("rules", "--planner", help="rules (offline, default) or openai."),
    llm_url: str | None = typer.Option(None, "--llm-url", help="OpenAI-compatible endpoint, e.g. "
                                                             "http://localhost:8000/v1 (for --planner openai)."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Model name the endpoint serves."),
    llm_rounds: int = typer.Option(4, "--llm-rounds", help="Most replies asked of the model (--planner openai): "
                                                         "each round sends back what the last one's steps gave."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Folder for masks, pictures and reports."),
    plan_only: bool = typer.Option(False, "--plan-only", help="Print the planned program without running it."),
    as_json: bool = JsonOpt,
) -> None:
    """Answer a plain-language request about the images, with the program that produced every number.

    Requires only the images; a language-model planner is optional (--planner openai).
    """
    from voxelprompt.agent import Agent

    if len(args) < 2:
        raise VoxelPromptError("ask needs at least one image and a request",
                               'e.g. voxelprompt ask t1=scan.nii.gz "volume of the left hippocampus"')
    if planner not in ("rules", "openai"):
        raise VoxelPromptError(f"planner '{planner}' is not available", "use --planner rules or openai")
    if planner == "openai" and not (llm_url and llm_model):
        raise VoxelPromptError("--planner openai needs --llm-url and --llm-model",
                               "e.g. --llm-url http://localhost:8000/v1 --llm-model NAME (key from OPENAI_API_KEY)")
    if llm_rounds < 1:
        raise VoxelPromptError(f"--llm-rounds must be at least 1, not {llm_rounds}", "e.g. --llm-rounds 4")
    *images, request = args
    if not request.strip():
        raise VoxelPromptError("the request is empty", "write a question in quotes after the images")
    if output is not None and output.exists() and not output.is_dir():
        raise InputFileError(f"output {output} is a file", "give a folder name")
    context = build_context(images, labels)
    agent = Agent(context)
    if planner == "openai":
        from voxelprompt.agent import OpenAIPlanner

        if plan_only:
            raise VoxelPromptError("--plan-only works with the rules planner", "drop --plan-only")
        chat_planner = OpenAIPlanner(llm_url, llm_model, max_rounds=llm_rounds)  # type: ignore[arg-type]
        result = chat_planner.ask(request, context)
        _finish(result, context, request, output, as_json)
        return
    if plan_only:
        lines = agent.plan_only(request)
        if as_json:
            print_json({"status": "planned", "program": lines})
        else:
            stdout.print("\n".join(lines) or "(nothing to do)", highlight=False)
        return
    _finish(agent.ask(request), context, request, output, as_json)


def _finish(result, context, request: str, output: Path | None, as_json: bool) -> None:
    masks = write_outputs(result, context, request, output) if output else []
    payload = result.to_json(masks)
    if as_json:
        print_json(payload)
    else:
        stdout.print(f"{result.status}: {result.answer}", highlight=False)
        if output:
            stdout.print(f"report: {output / 'report.html'}", highlight=False)
    if result.status == "failed":
        raise typer.Exit(1)


def write_outputs(result, context, request: str, output: Path) -> list[str]:
    """Masks (input geometry), a PNG per mask, report.json and report.html in ``output``."""
    from voxelprompt.report import mask_views, write_html_report, write_json
    from voxelprompt.volume import save_mask

    if output.exists() and not output.is_dir():
        raise InputFileError(f"output {output} is a file", "give a folder name")
    output.mkdir(parents=True, exist_ok=True)
    masks, pictures, seen = [], [], set()
    for region in result.regions:
        if region.engine == "derived" or region.name in seen:
            continue
        seen.add(region.name)
        stem = re.sub(r"[^A-Za-z0-9]+", "_", region.name).strip("_") or "mask"
        image = context.image(region.image).volume
        masks.append(str(save_mask(region.array, image, output / f"{stem}.nii.gz")))
        if region.present:
            mask_views(image, region.array, output / f"{stem}.png")
            pictures.append((region.name, f"{stem}.png"))
    payload = result.to_json(masks)
    write_json({"request": request, **payload}, output / "report.json")
    write_html_report(payload, request, output / "report.html", pictures)
    return masks


@app.command()
def demo(
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write reports for each request here."),
    as_json: bool = JsonOpt,
) -> None:
    """Answer a few requests on the MNI152 template and its FreeSurfer label map, and outline a lesion in a box."""
    from voxelprompt.agent import Agent
    from voxelprompt.samples import sample_path

    context = build_context([f"t1={sample_path('mni-t1')}"], [f"t1={sample_path('dk-labels')}"])
    results = []
    for k, request in enumerate(DEMO_REQUESTS, start=1):
        context.regions.clear()
        context.answer = None
        result = Agent(context).ask(request)
        masks = write_outputs(result, context, request, output / f"request{k}") if output else []
        results.append({"request": request, **result.to_json(masks)})
        if not as_json:
            stdout.print(f"? {request}\n  {result.status}: {result.answer}\n  program: "
                         f"{json.dumps(result.program[1:3])[:160]} ...", highlight=False)
    picture = _picture_demo()
    if as_json:
        print_json({"results": results, "picture": picture})
    else:
        stdout.print(f"? Outline the lesion inside box {picture['box_px']} (synthetic ultrasound scene, seed "
                     f"{picture['seed']})\n  {picture['area_px2']:.0f} px^2, score {picture['score']:.2f}; Dice "
                     f"{picture['dice_vs_truth']:.3f} against the scene's known mask ({picture['stopped']})",
                     highlight=False)


def _picture_demo(seed: int = 9001) -> dict:
    """A box prompt on a synthetic ultrasound-like scene, scored against its known lesion mask."""
    from voxelprompt.agent.refine2d import refine
    from voxelprompt.evaluation.prompt2d import score_masks
    from voxelprompt.vision.predict2d import BoxSegmenter, PromptSpec
    from voxelprompt.vision.scenes2d import ultrasound_scene

    scene = ultrasound_scene(seed)
    out = refine(BoxSegmenter(), scene.image, PromptSpec(tuple(map(float, scene.box))), "lesion")
    return {"seed": seed, "box_px": list(scene.box), "area_px2": float(out.instance.mask.sum()),
            "score": out.instance.score, "dice_vs_truth": score_masks(out.instance.mask, scene.mask)["dice"],
            "rounds": len(out.rounds), "stopped": out.stopped}
