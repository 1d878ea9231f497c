"""The agent: reads a request, plans steps in the instruction language, runs and checks them, answers."""

from voxelprompt.agent.critic import Finding, review
from voxelprompt.agent.llm import OpenAIPlanner, extract_steps
from voxelprompt.agent.loop import Agent, AgentResult
from voxelprompt.agent.request import Request, read_request
from voxelprompt.agent.rules import RulesPlanner

__all__ = ["Agent", "AgentResult", "Finding", "OpenAIPlanner", "Request", "RulesPlanner", "extract_steps",
           "read_request", "review"]
