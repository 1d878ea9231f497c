"""The instruction language rejects what it does not admit, and stops programs at their limits."""

from __future__ import annotations

import time

import pytest

from voxelprompt.program import Limits, ProgramError, new_interpreter, parse_program

HOSTILE_SOURCE = {
    "import os": "import",
    "from os import path": "import",
    "x = ().__class__": "private attribute",
    "x = __import__('os')": "not allowed",
    "f = open('/etc/passwd')": "not allowed",
    "eval('1+1')": "not allowed",
    "while True:\n    pass": "while loops",
    "f = lambda x: x": "lambda",
    "def f():\n    return 1": "function definitions",
    "xs = [i for i in range(3)]": "comprehensions",
    "x = image().volume.array.__len__": "private attribute",
    "x = (1).real": "only from results",
}


@pytest.mark.parametrize("source,word", HOSTILE_SOURCE.items())
def test_hostile_programs_are_rejected_or_stopped(interpreter, source, word):
    with pytest.raises(ProgramError, match=word):
        steps = interpreter.run(source)
        assert steps == []  # never reached


@pytest.mark.parametrize("source,word", [
    ("for i in range(10**9):\n    x = i", "exceeds the limit"),
    ("x = [0] * 10**9", "items"),
    ("x = 'a' * 10**10", "items"),
    ("x = 10**10**10", "exponent"),
    ("for i in range(900):\n    for j in range(900):\n        x = j", "loop iterations"),
    ("x = 2**60\ny = x * x * x * x * x * x", "256 bits"),
])
def test_resource_limits(interpreter, source, word):
    start = time.perf_counter()
    with pytest.raises(ProgramError, match=word):
        interpreter.run(source)
    assert time.perf_counter() - start < 5.0


def test_time_limit_stops_a_long_program(context):
    ip = new_interpreter(context, Limits(seconds=0.2, loop_iterations=10**6))
    source = "t = 0\nfor i in range(999999):\n    for j in range(999999):\n        t += 1"
    start = time.perf_counter()
    with pytest.raises(ProgramError, match=r"longer than 0\.2 s"):
        ip.run(source)
    assert time.perf_counter() - start < 3.0


def test_a_syntax_error_names_the_line():
    with pytest.raises(ProgramError, match="line 2"):
        parse_program("x = 1\ny = (\n")


def test_language_subset_runs(interpreter):
    interpreter.run("xs = [1, 2, 3]\ntotal = 0\nfor x in xs:\n    if x == 2:\n        continue\n    total += x\n"
                    "d = {'a': total}\nlabel = f\"total={d['a']:.1f}\"\nflag = total > 3 and not False")
    assert interpreter.names["total"] == 4
    assert interpreter.names["label"] == "total=4.0"
    assert interpreter.names["flag"] is True
    assert [s.index for s in interpreter.trace] == [1, 2, 3, 4, 5, 6]


def test_names_persist_between_runs(interpreter):
    interpreter.run("a = 2")
    interpreter.run("b = a * 3")
    assert interpreter.names["b"] == 6
    assert len(interpreter.trace) == 2
