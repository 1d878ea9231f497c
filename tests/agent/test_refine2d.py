"""The 2D critics and the refinement loop."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from openai import OpenAI

from tests.vision.conftest import box_of, dice, disc_picture
from voxelprompt.agent.critic2d import RulesCritic, VisionCritic, parse_vision_reply
from voxelprompt.agent.refine2d import refine
from voxelprompt.vision.predict2d import Instance2D, OtsuSegmenter, PromptSpec


def _instance(mask, box, **kw):
    return Instance2D(mask, mask.astype(np.float32), 0.9, PromptSpec(box, **kw))


def test_rules_critic_proposes_a_centre_point_for_an_empty_mask():
    review = RulesCritic().review(np.zeros((50, 60)), _instance(np.zeros((50, 60), bool), (10, 10, 40, 30)), "cyst")
    assert review.issues == ["empty mask"] and review.severity == 3.0
    assert review.proposal.positive == [(25.0, 20.0)]


def test_rules_critic_loosens_the_side_the_mask_touches():
    mask = np.zeros((100, 100), bool)
    mask[30:60, 20:50] = True  # fills the box's left part up to its left edge
    mask[30:60, 20:50] &= (np.add.outer(np.arange(30), np.arange(30)) < 45)  # not a full rectangle
    review = RulesCritic().review(np.zeros((100, 100)), _instance(mask, (20, 25, 60, 65)), "mass")
    assert "mask touches the box edge (left)" in review.issues
    assert review.proposal.box == (8.0, 25, 60, 65)


def test_rules_critic_is_satisfied_with_a_good_disc():
    picture, mask = disc_picture()
    review = RulesCritic().review(picture, _instance(mask, box_of(mask, 6)), "cyst")
    assert review.issues == [] and review.severity == 0 and review.proposal is None


def test_refine_keeps_the_first_round_when_nothing_is_wrong_and_records_why():
    picture, mask = disc_picture()
    out = refine(OtsuSegmenter(), picture, PromptSpec(box_of(mask, 6)), "cyst", max_rounds=3)
    assert len(out.rounds) == 1 and "found nothing wrong" in out.stopped
    assert dice(out.instance.mask, mask) > 0.95


def test_refine_widens_a_box_that_cuts_the_lesion():
    picture, mask = disc_picture(shape=(140, 180), centre=(70, 90), radius=30)
    tight = (75.0, 40.0, 121.0, 101.0)  # cuts the disc's left part off
    out = refine(OtsuSegmenter(), picture, PromptSpec(tight), "cyst", max_rounds=4)
    assert out.rounds[0].issues and "left" in out.rounds[0].issues[0]
    assert out.rounds[1].action == "loosen the box on the left" and out.rounds[1].accepted
    first = OtsuSegmenter().segment(picture, [PromptSpec(tight)])[0].mask
    assert dice(out.instance.mask, mask) > dice(first, mask) + 0.1
    assert [r.index for r in out.rounds] == list(range(1, len(out.rounds) + 1))


def test_parse_vision_reply_turns_actions_into_a_new_prompt():
    prompt = PromptSpec((10, 10, 50, 50))
    review = parse_vision_reply('Sure: {"verdict": "revise", "reason": "misses the lower part", "actions": '
                                '[{"action": "loosen_box", "sides": ["bottom"]}, {"action": "add_point", "x": 30, '
                                '"y": 55}, {"action": "rephrase", "concept": "hypoechoic mass"}]}',
                                prompt, prompt.box, (80, 80))
    assert review.proposal.box == (10, 10, 50, 56.0) and review.proposal.positive == [(30.0, 55.0)]
    assert review.concept == "hypoechoic mass" and review.action == "loosen box; add point; rephrase"
    assert parse_vision_reply("looks fine", prompt, prompt.box, (80, 80)).proposal is None
    assert parse_vision_reply('{"verdict": "ok"}', prompt, prompt.box, (80, 80)).issues == []


@pytest.fixture()
def vision_server():
    """A local OpenAI-compatible chat endpoint that replies with scripted critic verdicts."""
    seen: list[dict] = []
    replies = ['{"verdict": "revise", "reason": "the box cuts the lesion", '
               '"actions": [{"action": "loosen_box", "sides": ["left"]}]}', '{"verdict": "ok"}']

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            content = replies[min(len(seen), len(replies)) - 1]
            payload = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()


def test_vision_critic_sees_the_overlay_and_its_advice_is_applied(vision_server):
    url, seen = vision_server
    picture, mask = disc_picture(shape=(140, 180), centre=(70, 90), radius=30)
    critic = VisionCritic(OpenAI(base_url=url, api_key="none"), "vision-model")
    out = refine(OtsuSegmenter(), picture, PromptSpec((75.0, 40.0, 121.0, 101.0)), "cyst", critic=critic,
                 max_rounds=3)
    assert [r.action for r in out.rounds] == [None, "loosen box"] and out.rounds[1].accepted
    assert "found nothing wrong" in out.stopped and len(seen) == 2
    parts = seen[0]["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "'cyst'" in parts[0]["text"] and seen[0]["model"] == "vision-model"
    assert dice(out.instance.mask, mask) > 0.9


def test_a_point_near_the_corner_is_reviewed_inside_the_picture():
    picture, mask = disc_picture(shape=(120, 160), centre=(12, 12), radius=10)
    prompt = PromptSpec(None, [(2.0, 3.0)])
    assert prompt.window(mask.shape) == (0.0, 0.0, 20.0, 21.0)
    out = refine(OtsuSegmenter(), picture, prompt, "cyst", max_rounds=3)
    assert out.rounds[0].index == 1 and out.stopped
