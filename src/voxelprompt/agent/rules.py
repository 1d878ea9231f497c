"""The ``rules`` planner: offline, deterministic, fast. Request -> steps in the instruction language.

It plans in two phases. First it segments every structure the request names (one step each), so
the loop can run them and the critic can inspect each mask. Once the segmentations are observed,
it emits the measurement and comparison steps and the ``answer`` call, formatted from the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxelprompt.agent.request import Mention, Request, read_sentences
from voxelprompt.concepts import ConceptMatcher
from voxelprompt.program import Step

MEASURES = {"volume": "volume", "surface_area": "area", "diameter": "diameter", "intensity": "intensity",
            "count": "count"}
UNITS_WORD = {"mL": "mL", "mm": "mm", "mm^2": "mm²", "1": "", "%": "%"}


@dataclass
class Target:
    """One structure to segment: its variable name and the concept text passed to segment()."""

    var: str
    concept: str
    side: str | None


def _var(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "region"
    if base[0].isdigit():
        base = "r_" + base
    name, k = base, 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


class RulesPlanner:
    """Plans from keywords, vocabulary spans and laterality; no model, no network."""

    name = "rules"

    def __init__(self, matcher: ConceptMatcher) -> None:
        self.matcher = matcher

    def read(self, request: str) -> Request:
        return read_sentences(request, self.matcher)

    # -- phase 1: what to segment ----------------------------------------------------------------
    def targets(self, req: Request, roles: list[str]) -> tuple[list[Target], dict]:
        """The segmentations the request needs and how the measurements pair them."""
        used: set[str] = set()
        mentions = _dedupe(req.mentions)
        targets: list[Target] = []
        plan: dict = {"ops": req.ops or ["volume"], "groups": [], "group_ops": []}
        visits = [r for r in roles if r.startswith("visit")] or roles
        for m in mentions:
            ops = m.ops or req.ops or ["volume"]
            peers = [o for o in mentions if set(o.ops or ops) == set(ops)]
            lateral_pair = "asymmetry" in ops or ("compare" in ops and len({o.text for o in peers}) == 1)
            two_structures = bool({"ratio", "compare"} & set(ops)) and len({o.text for o in peers}) >= 2
            multi_visit = "change" in ops and len(visits) >= 2
            concept = m.text
            if lateral_pair and m.side in (None, "both"):
                sides = ["left", "right"]
            elif m.side is None and self._is_lateral(concept):
                sides = ["both"] if two_structures else ["left", "right", "both"]
            else:
                sides = [m.side]
            group = []
            for s in sides:
                text = f"{s} {concept}" if s in ("left", "right") else (f"both {concept}" if s == "both" else concept)
                for role in (visits[:2] if multi_visit else [None]):
                    var = _var(f"{text} {role or ''}", used)
                    targets.append(Target(var, text, s))
                    group.append((var, text, s, role))
            plan["groups"].append(group)
            plan["group_ops"].append(ops)
        return targets, plan

    def _is_lateral(self, concept: str) -> bool:
        match = self.matcher.match(concept)
        return bool(match.ref is not None and match.ref.concept.lateral)

    def segment_steps(self, targets: list[Target], plan: dict) -> list[str]:
        lines = []
        roles_needed = {role for g in plan["groups"] for (_, _, _, role) in g if role}
        if roles_needed:
            for role in sorted(roles_needed):
                lines.append(f'img_{role} = image("{role}")')
        else:
            lines.append("img = image()")
        for g in plan["groups"]:
            for var, text, _, role in g:
                img = f"img_{role}" if role else "img"
                lines.append(f'{var} = segment({img}, "{text}")')
        return lines

    # -- phase 2: measure, compare, answer -------------------------------------------------------
    def measure_steps(self, plan: dict, present: dict[str, bool]) -> tuple[list[str], list[str]]:
        """Measurement, comparison and location steps for the groups of targets, sentence by sentence."""
        lines: list[str] = []
        values: list[str] = []
        measured: dict[tuple[str, str], str] = {}
        kept = [([t for t in g if present.get(t[0], False)], ops) for g, ops in zip(plan["groups"], plan["group_ops"])]
        kept = [(g, ops) for g, ops in kept if g]
        for ops in dict.fromkeys(tuple(o) for _, o in kept):
            groups = [g for g, o in kept if tuple(o) == ops]
            self._measure_groups(list(ops), groups, lines, values, measured)
        seen: set[str] = set()
        return lines, [v for v in values if not (v in seen or seen.add(v))]

    def _measure_groups(self, ops: list[str], groups: list, lines: list[str], values: list[str],
                        measured: dict) -> None:
        single = [m for m in ops if m in MEASURES] or (["volume"] if not set(ops) & {"ratio", "asymmetry",
                                                                                  "locate"} else [])
        if "describe" in ops:
            single = list(dict.fromkeys([*single, "volume", "surface_area", "diameter", "intensity", "count"]))
        if "normalize" in ops and "volume" not in single:
            single.append("volume")
        for g in groups:
            for var, _, _, _ in g:
                for op in single:
                    fn = MEASURES[op]
                    name = f"{var}_{fn}"
                    lines.append(f"{name} = {fn}({var})")
                    measured[(var, op)] = name
                    values.append(name)
        if "asymmetry" in ops:
            for g in groups:
                left = [t for t in g if t[2] == "left"]
                right = [t for t in g if t[2] == "right"]
                if left and right:
                    lv, rv = self._ensure(left[0][0], measured, lines), self._ensure(right[0][0], measured, lines)
                    name = f"{left[0][0].replace('left_', '', 1)}_asymmetry"
                    lines.append(f"{name} = asymmetry({lv}, {rv})")
                    values.append(name)
        flat = [t for g in groups for t in g]
        if "ratio" in ops and len(flat) >= 2:
            a, b = self._ensure(flat[0][0], measured, lines), self._ensure(flat[1][0], measured, lines)
            lines.append(f"ratio_value = ratio({a}, {b})")
            values.append("ratio_value")
        if "compare" in ops and len(flat) >= 2 and "asymmetry" not in ops:
            a, b = self._ensure(flat[0][0], measured, lines), self._ensure(flat[1][0], measured, lines)
            lines.append(f"difference_value = difference({a}, {b})")
            lines.append(f"ratio_value = ratio({a}, {b})")
            values += ["difference_value", "ratio_value"]
        if "change" in ops:
            for g in groups:
                by_text: dict[str, list[str]] = {}
                for var, text, _, role in g:
                    if role:
                        by_text.setdefault(text, []).append(var)
                for vars_ in by_text.values():
                    if len(vars_) >= 2:
                        a, b = self._ensure(vars_[0], measured, lines), self._ensure(vars_[1], measured, lines)
                        name = f"{vars_[0]}_change"
                        lines.append(f"{name} = change({a}, {b})")
                        values.append(name)
        if "normalize" in ops:
            for g in groups:
                for var, _, _, _ in g:
                    v = self._ensure(var, measured, lines)
                    lines.append(f"{var}_icv_fraction = normalize({v})")
                    values.append(f"{var}_icv_fraction")
        if "locate" in ops:
            for g in groups:
                for var, _, _, _ in g:
                    lines.append(f"{var}_location = locate({var})")
        if "each" in ops:
            for var, text, _, _ in (t for g in groups for t in g):
                if self._countable(text):
                    self._each_instance(var, measured, lines, values)

    def _countable(self, text: str) -> bool:
        """Whether ``text`` names something that comes in separate pieces (a lesion, tumour, nodule ...)."""
        ref = self.matcher.match(text).ref
        return ref is not None and ref.concept.kind == "pathology"

    @staticmethod
    def _each_instance(var: str, measured: dict, lines: list[str], values: list[str]) -> None:
        """Steps giving the number of separate pieces of ``var`` and the volume of each, largest first."""
        if (var, "count") not in measured:
            lines.append(f"{var}_count = count({var})")
            measured[(var, "count")] = f"{var}_count"
            values.append(f"{var}_count")
        lines += [f"{var}_pieces = instances({var})", f"{var}_piece_volumes = []",
                  f"for piece in {var}_pieces: {var}_piece_volumes += [volume(piece)]"]
        values.append(f"{var}_piece_volumes")

    @staticmethod
    def _ensure(var: str, measured: dict, lines: list[str]) -> str:
        if (var, "volume") not in measured:
            name = f"{var}_volume"
            lines.append(f"{name} = volume({var})")
            measured[(var, "volume")] = name
        return measured[(var, "volume")]


def _dedupe(mentions: list[Mention]) -> list[Mention]:
    out: list[Mention] = []
    for m in mentions:
        same = next((o for o in out if o.text == m.text and o.side == m.side), None)
        if same is None:
            out.append(m)
        else:
            same.ops = list(dict.fromkeys([*same.ops, *m.ops]))
    if len(out) > 1:
        out = [m for m in out if m.text not in ("brain", "head")] or out
    return out


def observed_present(trace: list[Step]) -> dict[str, bool]:
    """Which region variables the trace shows as present."""
    out: dict[str, bool] = {}
    for step in trace:
        for name, summary in step.outputs.items():
            if isinstance(summary, dict) and "present" in summary:
                out[name] = bool(summary["present"])
    return out
