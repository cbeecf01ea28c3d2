"""Procedural "compute with Python, save the result" tasks over a generated CSV file.

The workspace holds ``data.csv`` (40 to 80 rows of ``id,group,value``); the question asks for a sum over
one group, the range of one group's values, or how many values exceed a threshold. The agent is
expected to run a program (``python``), save the integer to ``result.txt`` (``write_file``) and give it
as the final answer; the outcome needs both the answer and the file.

Item metadata follows :class:`reasongym.envs.tools.ToolEnv`'s conventions: ``files``,
``required_files``, ``milestones`` (the answer printed by ``python``, the file written) and the oracle
``plan``.
"""

from __future__ import annotations

import numpy as np

from reasongym.tasks.base import TaskItem
from reasongym.tasks.tools.calls import ToolCall

GROUPS = ("north", "south", "east", "west", "central")
DATA_FILE = "data.csv"
RESULT_FILE = "result.txt"
PROMPT = ("The workspace holds {data} with the columns id, group and value ({rows} rows). Compute {question}. "
          "Save the result (just the integer) to {result}, then give the final answer as a plain integer in "
          "<answer></answer>.")
_READ = "import csv\nrows = list(csv.DictReader(open('data.csv')))\n"
_PROGRAMS = {
    "sum": "print(sum(int(r['value']) for r in rows if r['group'] == {group!r}))\n",
    "range": "values = [int(r['value']) for r in rows if r['group'] == {group!r}]\nprint(max(values) - min(values))\n",
    "count_above": "print(sum(1 for r in rows if int(r['value']) > {threshold}))\n",
}


def make_item(rng: np.random.Generator, index: int) -> TaskItem:
    """Item ``index`` drawn with ``rng`` (see the module docstring)."""
    rows = int(rng.integers(40, 81))
    groups = [GROUPS[g] for g in rng.integers(len(GROUPS), size=rows)]
    values = [int(v) for v in rng.integers(1, 1000, size=rows)]
    rows_text = (f"{i + 1},{g},{v}\n" for i, (g, v) in enumerate(zip(groups, values, strict=True)))
    csv_text = "id,group,value\n" + "".join(rows_text)
    kind = ("sum", "range", "count_above")[rng.integers(3)]
    group = groups[int(rng.integers(rows))]
    threshold = int(rng.integers(200, 800))
    selected = [v for g, v in zip(groups, values, strict=True) if g == group]
    if kind == "sum":
        question, answer = f"the sum of value over the rows whose group is '{group}'", sum(selected)
    elif kind == "range":
        question = f"the largest value minus the smallest value among the rows whose group is '{group}'"
        answer = max(selected) - min(selected)
    else:
        question, answer = f"how many rows have a value greater than {threshold}", sum(v > threshold for v in values)
    program = _READ + _PROGRAMS[kind].format(group=group, threshold=threshold)
    milestones = {"computed": {"tool": "python", "text": str(answer)},
                  "saved": {"file": RESULT_FILE, "text": str(answer)}}
    save = ToolCall("write_file", {"path": RESULT_FILE, "content": str(answer)})
    plan = [
        {"milestones": ["computed"], "calls": [ToolCall("python", {"code": program}).to_dict()]},
        {"milestones": ["saved"], "calls": [save.to_dict()]},
    ]
    prompt = PROMPT.format(data=DATA_FILE, rows=rows, question=question, result=RESULT_FILE)
    return TaskItem(id=f"python-{index}", prompt=prompt, answer=str(answer),
                    metadata={"files": {DATA_FILE: csv_text}, "required_files": {RESULT_FILE: str(answer)},
                              "kind": kind, "milestones": milestones, "plan": plan})
