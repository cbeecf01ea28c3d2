"""Math benchmark definitions: where each lives and how its records become task items.

Hub defaults (loaded with ``datasets`` and cached under ``$HF_HOME``):

========== ============================== ======== ==============================================
benchmark  Hugging Face dataset           split    local file names (``$REASONGYM_DATA_DIR``)
========== ============================== ======== ==============================================
aime24     ``HuggingFaceH4/aime_2024``    train    ``aime24.jsonl``
aime25     ``math-ai/aime25``             test     ``aime25.jsonl``
amc23      ``math-ai/amc23``              test     ``amc23.jsonl``
math500    ``HuggingFaceH4/MATH-500``     test     ``math500.jsonl``
gsm8k      ``openai/gsm8k`` (``main``)    test     ``gsm8k.jsonl``
========== ============================== ======== ==============================================

Records may name the problem ``problem``/``question`` and the answer ``answer``; GSM8K's answer is a
worked solution ending in ``#### N`` and only ``N`` is kept; a record without an answer but with a
``solution`` takes the solution's last ``\\boxed{}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from reasongym.tasks.base import ListSource, TaskItem
from reasongym.tasks.loading import HubDataset, load_benchmark
from reasongym.tasks.math.extract import last_boxed

PROMPT_SUFFIX = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class MathBenchmark:
    """One benchmark: its display name, hub location, local file names and grading mode."""

    key: str
    title: str
    hub: HubDataset
    local_names: tuple[str, ...]
    grade_mode: str = "auto"


BENCHMARKS: dict[str, MathBenchmark] = {
    b.key: b
    for b in (
        MathBenchmark("aime24", "AIME 2024", HubDataset("HuggingFaceH4/aime_2024", "train"), ("aime24.jsonl",)),
        MathBenchmark("aime25", "AIME 2025", HubDataset("math-ai/aime25", "test"), ("aime25.jsonl",)),
        MathBenchmark("amc23", "AMC 2023", HubDataset("math-ai/amc23", "test"), ("amc23.jsonl",)),
        MathBenchmark("math500", "MATH-500", HubDataset("HuggingFaceH4/MATH-500", "test"), ("math500.jsonl",)),
        MathBenchmark("gsm8k", "GSM8K", HubDataset("openai/gsm8k", "test", "main"), ("gsm8k.jsonl",),
                      grade_mode="gsm8k"),
    )
}


def _field(record: dict[str, Any], names: Sequence[str], what: str, where: str) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    raise ValueError(f"{where}: record has no {what} field (looked for {list(names)}; has {sorted(record)})")


def _gold(record: dict[str, Any], where: str) -> str:
    """The reference answer as a string (``27.0`` stays ``"27.0"``; the grader equates it with 27)."""
    answer = record.get("answer")
    if isinstance(answer, list):  # Minerva/OlympiadBench style: a list of accepted strings
        answer = answer[0] if answer else None
    if answer in (None, ""):
        boxed = last_boxed(str(_field(record, ("solution",), "answer or solution", where)))
        if boxed is None:
            raise ValueError(f"{where}: record has no answer and its solution has no \\boxed{{}}")
        return boxed
    text = str(answer)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    return text.strip()


def to_item(record: dict[str, Any], index: int, benchmark: str, prompt_suffix: str = PROMPT_SUFFIX) -> TaskItem:
    """Turn one dataset record into a task item (its id is kept when the record has one)."""
    where = f"{benchmark} record {index}"
    problem = str(_field(record, ("problem", "question", "Problem", "Question"), "problem", where))
    ident = record.get("unique_id") or record.get("id") or record.get("idx") or index
    metadata = {k: record[k] for k in ("subject", "level", "year", "url") if k in record}
    return TaskItem(id=f"{benchmark}-{ident}", prompt=problem + prompt_suffix, answer=_gold(record, where),
                    metadata={"benchmark": benchmark, **metadata})


def load_source(keys: Sequence[str], *, data_files: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                prompt_suffix: str = PROMPT_SUFFIX) -> ListSource:
    """Load one or more benchmarks into a single source (``data_files`` replaces every default)."""
    items: list[TaskItem] = []
    origins: list[str] = []
    if data_files is not None:
        records, origin = load_benchmark(data_files=data_files, local_names=(), hub=None)
        items = [to_item(r, i, "+".join(keys), prompt_suffix) for i, r in enumerate(records)]
        return ListSource(items, origin)
    for key in keys:
        bench = BENCHMARKS[key]
        records, origin = load_benchmark(data_files=None, local_names=bench.local_names, hub=bench.hub)
        items.extend(to_item(r, i, key, prompt_suffix) for i, r in enumerate(records))
        origins.append(origin)
    return ListSource(items, " + ".join(origins))
