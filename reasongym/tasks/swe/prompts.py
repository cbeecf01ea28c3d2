"""The text RepoFix shows the agent: how an episode ends (for the tools family's system prompt,
:func:`reasongym.tasks.tools.prompt.tools_prompt`) and the task itself (the user message)."""

from __future__ import annotations

from typing import Sequence

from reasongym.tasks.swe.catalogue import Mutant

#: how a RepoFix episode ends (the last paragraph of the tools section)
SUBMIT_RULE = ("Each call's result comes back in a tool message, and you can then make further calls. Call submit "
               "when you are done: it ends the episode.")


def task_prompt(mutant: Mutant, paths: Sequence[str], max_turns: int) -> str:
    """The user message opening an episode: the repository, its files, the bug report and the rules."""
    repository = mutant.repository
    listing = "\n".join(f"  {path}" for path in paths)
    return (
        f"You are working in the Python repository `{repository.name}`: {repository.summary}.\n\n"
        f"Files:\n{listing}\n\n"
        f"Bug report: {mutant.issue}\n\n"
        "Find the bug in the package's source and fix it with edit_file. The visible tests are in "
        f"{repository.test_path} (run them with run_tests, or `python3 -m unittest` in the shell); more "
        "tests, hidden from you, decide whether the fix is accepted. The tests cannot be edited. Call submit "
        f"when you are done. You have {max_turns} turns; each of your messages is one turn and may hold "
        "several tool calls."
    )
