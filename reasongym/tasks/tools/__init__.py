"""Tool-use tasks: the tool-call protocol, real tools, BFCL data, the AST checker and the ToolRL reward.

See ``docs/tools.md`` for the protocol, the reward decompositions and where BFCL data is read from.
"""

from reasongym.tasks.tools.ast_checker import AstVerdict, canonical_calls, check_call, check_calls, check_value
from reasongym.tasks.tools.bfcl import BFCL_DIR_ENV, BFCL_HUB, CATEGORIES, load_bfcl
from reasongym.tasks.tools.calculator import CALCULATOR, calculator, evaluate
from reasongym.tasks.tools.calls import CallError, ParsedAction, ToolCall, parse_tool_calls
from reasongym.tasks.tools.python_tool import PythonRunner
from reasongym.tasks.tools.schema import function_schema, validate_arguments
from reasongym.tasks.tools.search import BM25, DocumentSearch
from reasongym.tasks.tools.tool import Tool, Toolbox, ToolError, ToolResult, ToolUnavailable, tool
from reasongym.tasks.tools.toolrl import correctness, format_ok, toolrl_parts
from reasongym.tasks.tools.workspace import Workspace, normalize_path

__all__ = [
    "BFCL_DIR_ENV",
    "BFCL_HUB",
    "BM25",
    "CALCULATOR",
    "CATEGORIES",
    "AstVerdict",
    "CallError",
    "DocumentSearch",
    "ParsedAction",
    "PythonRunner",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "ToolUnavailable",
    "Toolbox",
    "Workspace",
    "calculator",
    "canonical_calls",
    "check_call",
    "check_calls",
    "check_value",
    "correctness",
    "evaluate",
    "format_ok",
    "function_schema",
    "load_bfcl",
    "normalize_path",
    "parse_tool_calls",
    "tool",
    "toolrl_parts",
    "validate_arguments",
]
