"""The system prompt that describes the tools and the calling protocol to the agent.

The layout is the one Hermes- and Qwen-style chat templates produce from a ``tools=`` list — tool
schemas as JSON lines inside ``<tools></tools>``, calls as JSON inside ``<tool_call></tool_call>`` — so a
model trained on those templates reads it as its native protocol, while models that never saw them
get explicit instructions.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

#: how a single-step function-calling episode ends (BFCL)
REPLY_RULE = ("Call the function(s) the request needs, with every argument the request determines. If no "
              "function fits the request, do not call any: reply to the user inside <response></response>.")
#: how a multi-step tool episode ends
ANSWER_RULE = ("Each call's result comes back in a tool message, and you can then make further calls. When you "
               "know the final answer, write it as <answer>...</answer> in a message without tool calls.")


def tools_prompt(specs: Sequence[dict[str, Any]], rule: str, instructions: str | None = None) -> str:
    """The system prompt: optional ``instructions``, the tool schemas, the call format, and ``rule``."""
    listing = "\n".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    sections = [instructions.strip()] if instructions and instructions.strip() else []
    sections.append(
        "# Tools\n\n"
        "You can call the functions described by these JSON schemas:\n"
        f"<tools>\n{listing}\n</tools>\n\n"
        "To call a function, write a JSON object with its name and arguments between tags:\n"
        "<tool_call>\n"
        '{"name": "<function name>", "arguments": {"<argument name>": <value>}}\n'
        "</tool_call>\n"
        "Several calls in one message are allowed, each in its own <tool_call> block. "
        f"{rule}"
    )
    return "\n\n".join(sections)
