"""Reading the program out of a response, and the cheap in-process syntax check.

Rules (one linear scan over the lines):

* a fenced block opens with a line starting with three backticks (an optional language tag follows)
  and closes with a line holding only three backticks; a block left open runs to the end of the text;
* the last block tagged ``python``/``py``/``python3`` wins; else the last block of any tag;
* with no block at all, the whole response is the program (``fenced=False``).

:func:`syntax_error` compiles without running anything, so a response that is not Python is judged
invalid without a sandbox run.
"""

from __future__ import annotations

from dataclasses import dataclass

PYTHON_TAGS = frozenset({"python", "py", "python3"})
FENCE = "```"


@dataclass(frozen=True)
class Extraction:
    """The program found in a response and whether it came from a fenced block."""

    code: str
    fenced: bool


def extract_code(response: str) -> Extraction:
    """Apply the rules of the module docstring to ``response``."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in response.splitlines():
        stripped = line.strip()
        if current is None:
            if stripped.startswith(FENCE):
                tag = stripped[len(FENCE):].strip().split(maxsplit=1)
                current = []
                blocks.append((tag[0].lower() if tag else "", current))
        elif stripped == FENCE:
            current = None
        else:
            current.append(line)
    if not blocks:
        return Extraction(response.strip("\n"), fenced=False)
    python = [lines for tag, lines in blocks if tag in PYTHON_TAGS]
    chosen = python[-1] if python else blocks[-1][1]
    return Extraction("\n".join(chosen) + "\n", fenced=True)


def syntax_error(code: str) -> str | None:
    """``None`` when ``code`` compiles as a Python module, else a one-paragraph reason."""
    if not code.strip():
        return "no code found"
    try:
        compile(code, "solution.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"SyntaxError: {exc.msg}{where}"
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurdly deep nesting
        return f"{type(exc).__name__}: {exc}"
    return None
