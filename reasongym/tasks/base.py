"""Task items and task sources: what an environment draws its problems from.

A source is an indexable, sized collection of :class:`TaskItem`. Dataset-backed sources hold records in
memory; procedural sources generate item ``i`` deterministically from ``(seed, i)``, so an index names
the same problem in every process and a GRPO group can share it through ``reset(options={"index": i})``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class TaskItem:
    """One problem: the prompt shown to the agent, the ground truth, optional media and metadata."""

    id: str
    prompt: str
    answer: Any
    media: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


class TaskSource(ABC):
    """A sized, indexable collection of task items with a human-readable provenance."""

    #: where the items come from, e.g. ``"hub:HuggingFaceH4/MATH-500 (test)"`` or ``"procedural"``
    origin: str = ""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> TaskItem: ...

    def _check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"task index must be an int, got {type(index).__name__}")
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"task index {index} out of range for {n} items from {self.origin}")
        return int(index)


class ListSource(TaskSource):
    """Items held in memory (from a dataset file, the hub, or built by a test)."""

    def __init__(self, items: Sequence[TaskItem], origin: str):
        if not items:
            raise ValueError(f"no task items loaded from {origin}")
        self._items = list(items)
        self.origin = origin

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> TaskItem:
        return self._items[self._check_index(index)]


def item_rng(seed: int, index: int, salt: str) -> np.random.Generator:
    """A generator for procedural item ``index`` that is identical in every process and platform.

    Python's ``hash`` is salted per process, so the key is derived with BLAKE2 instead.
    """
    digest = hashlib.blake2b(f"{salt}:{seed}:{index}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


class ProceduralSource(TaskSource):
    """``num_items`` items, item ``i`` made by ``make(rng_i, i)`` with a per-item generator."""

    def __init__(self, make: Callable[[np.random.Generator, int], TaskItem], *, num_items: int, seed: int,
                 salt: str, origin: str):
        if num_items <= 0:
            raise ValueError(f"num_items must be positive, got {num_items}")
        self._make = make
        self._num_items = num_items
        self._seed = seed
        self._salt = salt
        self.origin = origin

    def __len__(self) -> int:
        return self._num_items

    def __getitem__(self, index: int) -> TaskItem:
        index = self._check_index(index)
        return self._make(item_rng(self._seed, index, self._salt), index)
