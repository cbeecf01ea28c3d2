"""Berkeley Function Calling Leaderboard (BFCL v4) questions and possible answers as task items.

Five single-turn categories are served: ``simple`` (``BFCL_v4_simple_python.json``), ``multiple``,
``parallel``, ``parallel_multiple`` and ``irrelevance``. Each category is a JSON-lines file of questions
(``id``, ``question`` — a list of turns of chat messages —, ``function`` — the offered function
schemas) and, except for irrelevance, a file of the same name under ``possible_answer/`` whose
``ground_truth`` lists the expected calls.

Where the files are read from (first match wins):

1. ``data_files=``: a folder holding ``BFCL_v4_<category>.json`` and ``possible_answer/``, or the path of
   one question file (its answers are looked for in ``possible_answer/`` beside it);
2. ``$REASONGYM_BFCL_DIR``, then ``$REASONGYM_DATA_DIR`` and ``$REASONGYM_DATA_DIR/bfcl``: folders laid
   out as above;
3. the Hugging Face dataset ``gorilla-llm/Berkeley-Function-Calling-Leaderboard`` (``hub=``; the same
   files, fetched with ``huggingface_hub`` and cached under ``$HF_HOME``), unless ``hub=None``.

When none has the files, :class:`~reasongym.tasks.loading.DataUnavailableError` says what to set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reasongym.tasks.base import ListSource, TaskItem
from reasongym.tasks.loading import DATA_DIR_ENV, DataUnavailableError, read_records

BFCL_HUB = "gorilla-llm/Berkeley-Function-Calling-Leaderboard"
BFCL_DIR_ENV = "REASONGYM_BFCL_DIR"
#: category -> the file stem in BFCL v4
CATEGORIES = {"simple": "simple_python", "multiple": "multiple", "parallel": "parallel",
              "parallel_multiple": "parallel_multiple", "irrelevance": "irrelevance"}
ANSWER_DIR = "possible_answer"


def question_file(category: str) -> str:
    """The question file name of ``category``."""
    return f"BFCL_v4_{CATEGORIES[category]}.json"


def _check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; choose from {sorted(CATEGORIES)}")
    return category


def _with_answers(questions: Path, category: str) -> tuple[Path, Path | None] | None:
    """``(questions, answers)`` when the question file and (except for irrelevance) its answers exist."""
    if not questions.is_file():
        return None
    if category == "irrelevance":
        return questions, None
    answers = questions.parent / ANSWER_DIR / questions.name
    return (questions, answers) if answers.is_file() else None


def _hub_files(hub: str, category: str) -> tuple[Path, Path | None]:
    try:
        from huggingface_hub import hf_hub_download

        questions = Path(hf_hub_download(hub, question_file(category), repo_type="dataset"))
        answers = None if category == "irrelevance" else Path(
            hf_hub_download(hub, f"{ANSWER_DIR}/{question_file(category)}", repo_type="dataset"))
    except Exception as exc:  # offline, missing file, missing package: all mean "no data"
        raise DataUnavailableError(
            f"BFCL {category} could not be fetched from hub:{hub} ({type(exc).__name__}: {exc}). Offline, pass "
            f"data_files=<folder with {question_file(category)} and {ANSWER_DIR}/> or set ${BFCL_DIR_ENV}."
        ) from exc
    return questions, answers


def locate(category: str, data_files: str | os.PathLike | None, hub: str | None) -> tuple[Path, Path | None, str]:
    """``(question file, answer file or None, origin)`` following the order in the module docstring."""
    category = _check_category(category)
    if data_files is not None:
        path = Path(data_files)
        found = _with_answers(path if path.is_file() else path / question_file(category), category)
        if found is None:
            answers = "" if category == "irrelevance" else f" and {ANSWER_DIR}/{question_file(category)}"
            raise DataUnavailableError(
                f"no BFCL {category} data at {path}: expected {question_file(category)}{answers}")
        return found[0], found[1], f"local:{found[0]}"
    folders = [os.environ.get(BFCL_DIR_ENV)]
    if data_dir := os.environ.get(DATA_DIR_ENV):
        folders += [data_dir, os.path.join(data_dir, "bfcl")]
    for folder in filter(None, folders):
        if found := _with_answers(Path(folder) / question_file(category), category):
            return found[0], found[1], f"local:{found[0]}"
    if hub is None:
        raise DataUnavailableError(f"no BFCL {category} data: pass data_files=<folder> or set ${BFCL_DIR_ENV} to a "
                                   f"folder holding {question_file(category)} and {ANSWER_DIR}/")
    questions, answers = _hub_files(hub, category)
    return questions, answers, f"hub:{hub} ({question_file(category)})"


def make_item(record: dict[str, Any], ground_truth: list[dict[str, Any]], category: str) -> TaskItem:
    """One question as a task item: ``answer`` is the ground truth (``[]`` for irrelevance)."""
    first_turn = record["question"][0]
    prompt = "\n".join(m["content"] for m in first_turn if m.get("role") == "user")
    return TaskItem(id=record["id"], prompt=prompt, answer=ground_truth,
                    metadata={"category": category, "functions": record["function"], "messages": first_turn})


def load_bfcl(category: str, *, data_files: str | os.PathLike | None = None, hub: str | None = BFCL_HUB) -> ListSource:
    """The items of one BFCL category (see the module docstring for where files come from)."""
    questions, answers, origin = locate(category, data_files, hub)
    records = read_records(questions)
    truth: dict[str, list[dict[str, Any]]] = {}
    if answers is not None:
        truth = {r["id"]: r["ground_truth"] for r in read_records(answers)}
        missing = [r["id"] for r in records if r["id"] not in truth]
        if missing:
            raise ValueError(f"{answers} has no possible answer for {len(missing)} question(s), e.g. {missing[0]}")
    return ListSource([make_item(r, truth.get(r["id"], []), category) for r in records], origin)


#: BFCL's type names -> JSON Schema types (``any`` has no constraint)
_JSON_TYPES = {"dict": "object", "float": "number", "tuple": "array", "array": "array", "string": "string",
               "integer": "integer", "boolean": "boolean"}


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A BFCL parameter schema in standard JSON Schema (``dict`` -> ``object``, ``float`` -> ``number``...)."""
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if value in _JSON_TYPES:
                converted["type"] = _JSON_TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            converted[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            converted[key] = to_json_schema(value)
        else:
            converted[key] = value
    return converted


def tool_specs(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The offered functions as OpenAI / Qwen tool entries for the system prompt."""
    return [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                              "parameters": to_json_schema(f.get("parameters", {}))}}
            for f in functions]
