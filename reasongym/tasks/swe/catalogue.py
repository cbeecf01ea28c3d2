"""The verified mutant catalogue: which injected bugs RepoFix episodes use, and what each one breaks.

Every candidate site of every operator (:mod:`reasongym.tasks.swe.mutations`) in every repository was run
once against all the repository's cases by ``python -m reasongym.tasks.swe.build_catalogue``. A candidate
became a :class:`Mutant` when at least one hidden case fails and no case hangs; the others are listed with
the reason they were discarded (equivalent mutants, code no test reaches, infinite loops). The result is
the generated module :mod:`reasongym.tasks.swe.verified`, checked against the repositories' current
sources on load, so an edited repository cannot silently shift which site a mutant names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from reasongym.tasks.swe.mutations import Site, apply_site, find_sites
from reasongym.tasks.swe.repos import REPOSITORIES
from reasongym.tasks.swe.repository import Repository

BUILD_COMMAND = "python -m reasongym.tasks.swe.build_catalogue"


@dataclass(frozen=True)
class Mutant:
    """One verified bug.

    Attributes:
        repo: the repository's name.
        path: the mutated file.
        operator: the mutation operator.
        index: the site's index among the operator's sites in that file.
        description: what changed (for docs and logs; never shown to the agent).
        failing_hidden: hidden cases the bug makes fail.
        failing_visible: visible cases the bug makes fail (step rewards pay for these passing again).
        issue: the bug report shown to the agent, written from the first failing hidden case.
    """

    repo: str
    path: str
    operator: str
    index: int
    description: str
    failing_hidden: tuple[str, ...]
    failing_visible: tuple[str, ...]
    issue: str

    @property
    def key(self) -> str:
        """A stable identifier, e.g. ``rpn/rpn/ops.py:wrong_operator:1``."""
        return f"{self.repo}/{self.path}:{self.operator}:{self.index}"

    @property
    def repository(self) -> Repository:
        return REPOSITORIES[self.repo]

    def site(self) -> Site:
        """The mutation site in the pristine file."""
        return find_sites(self.repository.files[self.path], self.operator)[self.index]

    def files(self) -> dict[str, str]:
        """The repository's source files with this bug injected."""
        pristine = self.repository.files
        return {**pristine, self.path: apply_site(pristine[self.path], self.site())}


CASES_KEY = "<cases>"


def digests() -> dict[str, dict[str, str]]:
    """The content hash of every source file of every repository, and of its cases (key ``<cases>``)."""
    return {name: {**{path: repo.digest(path) for path in sorted(repo.files)}, CASES_KEY: repo.cases_digest()}
            for name, repo in REPOSITORIES.items()}


@lru_cache(maxsize=1)
def load() -> tuple[Mutant, ...]:
    """The verified mutants (after checking that the repositories are the ones they were built from)."""
    from reasongym.tasks.swe import verified

    if verified.DIGESTS != digests():
        raise RuntimeError("the RepoFix repositories changed since the mutant catalogue was built; "
                           f"rebuild it with `{BUILD_COMMAND}`")
    return tuple(Mutant(repo, path, operator, index, description, tuple(hidden), tuple(visible), issue)
                 for repo, path, operator, index, description, hidden, visible, issue in verified.MUTANTS)
