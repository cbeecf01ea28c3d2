"""The RepoFix task source: one item per verified mutant, in a seeded order.

Item ``i`` is the ``i``-th mutant of the catalogue (:func:`reasongym.tasks.swe.catalogue.load`) after
filtering by repository and operator and shuffling with ``numpy.random.default_rng(seed)``, so an index
names the same buggy repository in every process. Items are built on access (one AST parse of the mutated
file), so a source holds no per-item state and an episode's files are fresh on every ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from reasongym.tasks.base import TaskItem, TaskSource
from reasongym.tasks.swe.catalogue import Mutant, load
from reasongym.tasks.swe.mutations import OPERATORS, fix_edit
from reasongym.tasks.swe.repos import REPOSITORIES


@dataclass(frozen=True)
class Fix:
    """The inverse of an item's mutation, as an ``edit_file`` call would make it."""

    path: str
    old: str
    new: str


class RepoFixSource(TaskSource):
    """Verified mutants as task items.

    Args:
        repos: keep only these repositories (default: all of ``rpn``, ``intervals``, ``textkit``, ``ledger``).
        operators: keep only these mutation operators (default: all).
        seed: the order of the items.

    Item fields: ``prompt`` is the bug report; ``answer`` a :class:`Fix`; ``metadata`` holds the
    ``mutant`` (:class:`~reasongym.tasks.swe.catalogue.Mutant`) and the mutated source ``files``.
    """

    def __init__(self, *, repos: Sequence[str] | None = None, operators: Sequence[str] | None = None, seed: int = 0):
        _check_names("repository", repos, tuple(REPOSITORIES))
        _check_names("operator", operators, OPERATORS)
        mutants = [m for m in load() if (repos is None or m.repo in repos)
                   and (operators is None or m.operator in operators)]
        if not mutants:
            raise ValueError(f"no verified mutant for repos={repos} and operators={operators}")
        order = np.random.default_rng(seed).permutation(len(mutants))
        self._mutants: list[Mutant] = [mutants[i] for i in order]
        self.origin = f"procedural: {len(mutants)} verified mutants (seed {seed})"

    def __len__(self) -> int:
        return len(self._mutants)

    def __getitem__(self, index: int) -> TaskItem:
        mutant = self._mutants[self._check_index(index)]
        site = mutant.site()
        old, new = fix_edit(mutant.repository.files[mutant.path], site)
        return TaskItem(id=mutant.key, prompt=mutant.issue, answer=Fix(mutant.path, old, new),
                        metadata={"mutant": mutant, "files": mutant.files()})


def _check_names(what: str, given: Sequence[str] | None, known: Sequence[str]) -> None:
    if given is None:
        return
    if isinstance(given, str):
        raise TypeError(f"pass a list of {what} names, not the string {given!r}")
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} name(s) {unknown}; choose from {list(known)}")
