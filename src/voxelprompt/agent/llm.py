"""The ``openai`` planner: any OpenAI-compatible chat endpoint writes the steps.

The model sees the instruction language, the registry of builtins (signatures and units), the
images' roles and the request. It replies with steps, as JSON ``{"steps": [...]}`` or as a code
block; the interpreter runs them; the trace of that round (outputs, errors, the critic's findings)
goes back to the model as the next message, until ``answer`` is called or the round limit is hit.
The model never runs anything itself: every line passes the same checks and limits as
``voxelprompt run``.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from voxelprompt.agent.critic import check_sides, review
from voxelprompt.agent.loop import AgentResult
from voxelprompt.errors import VoxelPromptError
from voxelprompt.program import ProgramContext, ProgramError, Region, describe_registry, new_interpreter

KEY_VARIABLES = ("VOXELPROMPT_LLM_KEY", "OPENAI_API_KEY")
SYSTEM = """You analyse medical images by writing short programs in a subset of Python.
Allowed: assignments, calls of the functions below, arithmetic, comparisons, lists, dicts,
f-strings, if, and for over a list. No imports, no attributes starting with _, no while.
Functions (units in their descriptions):
{functions}
Images by role: {roles}.
Reply ONLY with JSON: {{"steps": ["line 1", "line 2", ...]}}. Segment before measuring. Finish with
answer(text, [values]) where every number in the text comes from a value you computed. If a concept
is refused or absent, answer that instead of guessing."""


def extract_steps(reply: str) -> list[str]:
    """Program lines from a model reply: JSON ``{"steps": [...]}``, a fenced code block, or raw code."""
    text = reply.strip()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            payload = json.loads(match.group(0))
            steps = payload.get("steps") if isinstance(payload, dict) else None
            if isinstance(steps, list) and all(isinstance(s, str) for s in steps):
                return [s for s in steps if s.strip()]
        except json.JSONDecodeError:
            pass
    block = re.search(r"```(?:python|py)?\s*\n(.*?)```", text, re.DOTALL)
    code = block.group(1) if block else text
    return [code.strip()] if code.strip() else []


class OpenAIPlanner:
    """Plans with a chat model behind an OpenAI-compatible endpoint (``/v1/chat/completions``)."""

    name = "openai"

    def __init__(self, url: str, model: str, *, api_key: str | None = None, max_rounds: int = 4,
                 max_tokens: int = 256, timeout_s: float = 120.0) -> None:
        from openai import OpenAI

        key = api_key or next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), "not-needed")
        self.url, self.model = url, model
        self.client = OpenAI(base_url=url, api_key=key, timeout=timeout_s, max_retries=0)
        self.max_rounds, self.max_tokens = max_rounds, max_tokens

    def complete(self, messages: list[dict[str, str]]) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages,  # type: ignore
                                                           max_tokens=self.max_tokens, temperature=0)
        except openai.APIConnectionError:
            raise VoxelPromptError(f"cannot reach the language model at {self.url}",
                                   "start the server or check --llm-url") from None
        except openai.APIStatusError as exc:
            raise VoxelPromptError(f"the language model at {self.url} answered {exc.status_code}",
                                   "check --llm-model and the API key") from None
        return response.choices[0].message.content or ""

    def ask(self, request: str, context: ProgramContext) -> AgentResult:
        start = time.perf_counter()
        ip = new_interpreter(context)
        functions = "\n".join(f"- {f['signature']}: {f['summary']}" for f in describe_registry())
        messages = [{"role": "system", "content": SYSTEM.format(functions=functions, roles=", ".join(context.images))},
                    {"role": "user", "content": request}]
        program: list[str] = []
        replies: list[str] = []
        refused: str | None = None
        for _ in range(self.max_rounds):
            reply = self.complete(messages)
            replies.append(reply)
            messages.append({"role": "assistant", "content": reply})
            observation = self._run_round(ip, extract_steps(reply), program)
            refused = refused or next((s.error for s in ip.trace if s.error_type == "ConceptRefused"), None)
            if context.answer is not None:
                break
            messages.append({"role": "user", "content": "Observation:\n" + json.dumps(observation)[:4000]
                             + "\nContinue with the next steps, ending with answer(...)."})
        regions = [v for v in context.regions if v.engine != "derived"]
        findings = [f for r in regions for f in review(r)] + check_sides(regions)
        answered = context.answer
        if answered is not None:
            status = "refused" if refused and not answered.values else "answered"
            text = answered.text
            if any(f.kind != "empty" for f in findings):
                text += " Doubts: " + "; ".join(f.message for f in findings if f.kind != "empty") + "."
            result = AgentResult(status, text, answered.values, program, regions, findings, ip)
        elif refused:
            result = AgentResult("refused", f"I cannot answer this: {refused}", [], program, regions, findings, ip)
        else:
            result = AgentResult("failed", f"the model gave no answer within {self.max_rounds} rounds", [],
                                 program, regions, findings, ip)
        result.planner_replies = replies
        result.seconds = time.perf_counter() - start
        return result

    @staticmethod
    def _run_round(ip, steps: list[str], program: list[str]) -> list[dict[str, Any]]:
        observation: list[dict[str, Any]] = []
        for code in steps:
            try:
                new = ip.run(code, stop_on_error=False)
            except ProgramError as exc:  # not in the language: nothing of it ran
                observation.append({"code": code[:300], "error": str(exc)})
                continue
            program.append(code)
            for step in new:
                item = {"step": step.index, "code": step.code[:300], "outputs": step.outputs}
                if step.error:
                    item["error"] = step.error
                observation.append(item)
            if any(s.error for s in new):
                break
        for value in ip.names.values():
            if isinstance(value, Region) and value.engine != "derived":
                for f in review(value):
                    observation.append({"critic": f.message})
        return observation
