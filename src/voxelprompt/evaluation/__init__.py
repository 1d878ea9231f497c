"""Evaluation of segmentation engines on synthetic cases made from real templates."""

from voxelprompt.evaluation.cases import Case, make_case
from voxelprompt.evaluation.harness import DEFAULT_STRUCTURES, DEFAULT_TEMPLATES, compare_reports, run_eval

__all__ = ["DEFAULT_STRUCTURES", "DEFAULT_TEMPLATES", "Case", "compare_reports", "make_case", "run_eval"]
