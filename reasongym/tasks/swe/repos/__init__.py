"""The small repositories RepoFix injects bugs into, each written for this project (see ``docs/swe.md``)."""

from __future__ import annotations

from reasongym.tasks.swe.repos import intervals, ledger, rpn, textkit
from reasongym.tasks.swe.repository import Repository

REPOSITORIES: dict[str, Repository] = {module.REPOSITORY.name: module.REPOSITORY
                                       for module in (rpn, intervals, textkit, ledger)}

__all__ = ["REPOSITORIES"]
