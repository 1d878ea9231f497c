"""The agent loop: plan, run one step at a time, observe, criticise, retry, answer.

Every number in the answer comes from a step of the trace; the program that produced it is
returned with the answer. A refused concept ends the request with a refusal (and suggestions),
never with a number for something else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from voxelprompt.agent.critic import Finding, check_sides, review
from voxelprompt.agent.rules import RulesPlanner, observed_present
from voxelprompt.measure import Quantity
from voxelprompt.program import Interpreter, ProgramContext, Region, new_interpreter, quantity_label


@dataclass
class AgentResult:
    """What ``ask`` reports."""

    status: str  # answered | refused | failed
    answer: str
    values: list[Quantity] = field(default_factory=list)
    program: list[str] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    interpreter: Interpreter | None = None
    seconds: float = 0.0
    planner_replies: list[str] = field(default_factory=list)  # raw replies of a language-model planner

    def values_json(self) -> list[dict[str, Any]]:
        return [{"name": quantity_label(q) if "label" not in q.provenance else q.provenance["label"],
                 "value": q.json_value(), "unit": q.unit, "step": q.provenance.get("step")} for q in self.values]

    def to_json(self, masks: list[str] | None = None) -> dict[str, Any]:
        trace = [s.to_json() for s in self.interpreter.trace] if self.interpreter else []
        return {"status": self.status, "answer": self.answer, "values": self.values_json(),
                "program": self.program, "masks": masks or [], "doubts": [f.to_json() for f in self.findings],
                "trace": trace, "seconds": round(self.seconds, 2),
                **({"planner_replies": self.planner_replies} if self.planner_replies else {})}


class Agent:
    """Runs a request against a context with a planner (``rules`` by default)."""

    def __init__(self, context: ProgramContext, planner: RulesPlanner | None = None) -> None:
        self.context = context
        self.planner = planner or RulesPlanner(context.matcher)

    def plan_only(self, request: str) -> list[str]:
        """The segmentation steps the planner would start with (measurements follow observation)."""
        req = self.planner.read(request)
        targets, plan = self.planner.targets(req, list(self.context.images))
        if not targets:
            return []
        lines = self.planner.segment_steps(targets, plan)
        measure, _ = self.planner.measure_steps(plan, {t.var: True for t in targets})
        return lines + measure

    def ask(self, request: str) -> AgentResult:
        start = time.perf_counter()
        result = self._ask(request)
        result.seconds = time.perf_counter() - start
        return result

    def _ask(self, request: str) -> AgentResult:
        ip = new_interpreter(self.context)
        program: list[str] = []
        req = self.planner.read(request)
        if not req.mentions and not req.unknown and "list" in req.ops:
            return self._list_structures(ip, program)
        if not req.mentions or req.unknown:
            if req.unknown:
                sugg = self.context.matcher.match(req.unknown[0]).suggestions
                hint = f" Did you mean: {', '.join(sugg)}?" if sugg else ""
                return AgentResult("refused", f"I do not know the structure '{req.unknown[0]}'.{hint}",
                                   interpreter=ip)
            return AgentResult("refused", "The request names no structure I can segment; name one, e.g. "
                                          "'volume of the left hippocampus'.", interpreter=ip)
        targets, plan = self.planner.targets(req, list(self.context.images))
        for line in self.planner.segment_steps(targets, plan):
            step = self._run(ip, line, program)
            if step.error:
                if step.error_type in ("ConceptRefused", "UnsupportedConcept"):
                    return AgentResult("refused", f"I cannot answer this: {step.error}", program=program,
                                       interpreter=ip)
                return AgentResult("failed", f"Step {step.index} failed: {step.error}", program=program,
                                   interpreter=ip)
        findings = self._criticise(ip, program)
        present = observed_present(ip.trace)
        absent = [t for t in targets if not present.get(t.var, False)]
        measure_lines, value_vars = self.planner.measure_steps(plan, present)
        for line in measure_lines:
            step = self._run(ip, line, program)
            if step.error:
                return AgentResult("failed", f"Step {step.index} failed: {step.error}", program=program,
                                   findings=findings, interpreter=ip)
        single = [v for v in value_vars if isinstance(ip.names.get(v), Quantity)]
        lists = [v for v in value_vars if _quantities(ip.names.get(v))]  # one value per piece ("each lesion")
        values = [ip.names[v] for v in single] + [q for v in lists for q in ip.names[v]]
        text = self._compose(values, absent, findings, ip)
        reported = " + ".join([f"[{', '.join(single)}]"] * bool(single) + lists)
        answer_line = f"answer({text!r}, {reported})" if values else f"answer({text!r})"
        self._run(ip, answer_line, program)
        answered = self.context.answer
        status = "answered" if values or absent or "locate" in plan["ops"] else "failed"
        return AgentResult(status, text, answered.values if answered else values, program,
                           list(self.context.regions), findings, ip)

    def _list_structures(self, ip: Interpreter, program: list[str]) -> AgentResult:
        self._run(ip, "img = image()", program)
        step = self._run(ip, "labelled = structures(img)", program)
        if step.error:
            return AgentResult("failed", f"Step {step.index} failed: {step.error}", program=program, interpreter=ip)
        names = [name for name, _ in ip.names["labelled"]]
        text = f"{len(names)} structures are labelled: {', '.join(names)}." if names else "No structure is labelled."
        self._run(ip, f"answer({text!r})", program)
        return AgentResult("answered", text, [], program, [], [], ip)

    @staticmethod
    def _run(ip: Interpreter, line: str, program: list[str]):
        program.append(line)
        return ip.run(line, stop_on_error=False)[-1]

    def _criticise(self, ip: Interpreter, program: list[str]) -> list[Finding]:
        """Review each segmentation; retry with another engine where that may help."""
        findings: list[Finding] = []
        for var, value in list(ip.names.items()):
            if not isinstance(value, Region) or value.engine == "derived":
                continue
            found = review(value)
            if any(f.retry for f in found):
                alternative = self._other_engine(value)
                if alternative:
                    img_var = next((n for n, v in ip.names.items()
                                    if getattr(v, "role", None) == value.image), "img")
                    step = self._run(ip, f'{var} = segment({img_var}, "{value.provenance.get("concept", value.name)}"'
                                         f', engine="{alternative}")', program)
                    if not step.error and isinstance(ip.names.get(var), Region):
                        retried = review(ip.names[var])
                        if len(retried) < len(found):
                            why = ", ".join(f.kind for f in found)
                            found = [*retried, Finding(value.name, "engine", f"'{value.name}' came from the "
                                                       f"{alternative} engine because the {value.engine} engine's "
                                                       f"mask was flagged ({why})", False)]
            findings += found
        regions = [v for v in ip.names.values() if isinstance(v, Region)]
        return findings + check_sides(regions)

    def _other_engine(self, region: Region) -> str | None:
        match = self.context.matcher.match(region.provenance.get("concept", region.name))
        if match.ref is None:
            return None
        for engine in self.context.engines:
            if engine.name != region.engine and engine.supports(match.ref, None):
                return engine.name
        return None

    @staticmethod
    def _compose(values: list[Quantity], absent: list, findings: list[Finding], ip: Interpreter) -> str:
        parts = []
        for v in values:
            label = quantity_label(v).replace("_", " ")
            unit = "" if v.unit == "1" else f" {v.unit}"
            number = f"{float(v):.4g}" if not isinstance(v.value, tuple) else str(v.json_value())
            if v.name in ("asymmetry_index",):
                parts.append(f"asymmetry index (L-R)/mean of {v.provenance.get('left', '')} vs "
                             f"{v.provenance.get('right', '')}: {number} ({float(v) * 100:.2f} %)")
            elif v.name == "ratio":
                parts.append(f"ratio {v.provenance.get('numerator')} / {v.provenance.get('denominator')}: {number}")
            elif v.name == "percent_change":
                parts.append(f"change from {v.provenance.get('before')} to {v.provenance.get('after')}: "
                             f"{number} %")
            else:
                parts.append(f"{label}: {number}{unit}")
        for name, value in ip.names.items():
            if name.endswith("_location") and isinstance(value, list):
                where = ", ".join(f"{n} {f:.0%}" for n, f in value[:4])
                parts.append(f"{name[:-9].replace('_', ' ')} lies in: {where}")
        for t in absent:
            parts.append(f"{t.concept} was not found in this image (absent)")
        text = "; ".join(parts) if parts else "Nothing could be measured"
        text = text if text.endswith(".") else text + "."
        doubts = [f.message for f in findings if f.kind != "empty"]
        if doubts:
            text += " Doubts: " + "; ".join(doubts) + "."
        return text


def _quantities(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of measured values (one per piece of a region)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, Quantity) for v in value)
