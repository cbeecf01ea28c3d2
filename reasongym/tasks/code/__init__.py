"""Code tasks: HumanEval and stdin/stdout problems, program extraction, sandboxed graders, rewards.

See ``docs/code_envs.md`` for the grading harness and what it defends against.
"""

from reasongym.tasks.code.compare import outputs_match
from reasongym.tasks.code.extract import Extraction, extract_code, syntax_error
from reasongym.tasks.code.graders import FunctionGrader, Grader, StdioGrader
from reasongym.tasks.code.humaneval import FunctionTests, humaneval_source, instrument
from reasongym.tasks.code.results import REWARD_MODES, TestResult, Verdict, outcome_reward
from reasongym.tasks.code.sandboxes import resolve_sandbox
from reasongym.tasks.code.stdio import StdioTest, items_from_records, load_stdio, parse_record

__all__ = [
    "REWARD_MODES",
    "Extraction",
    "FunctionGrader",
    "FunctionTests",
    "Grader",
    "StdioGrader",
    "StdioTest",
    "TestResult",
    "Verdict",
    "extract_code",
    "humaneval_source",
    "instrument",
    "items_from_records",
    "load_stdio",
    "outcome_reward",
    "outputs_match",
    "parse_record",
    "resolve_sandbox",
    "syntax_error",
]
