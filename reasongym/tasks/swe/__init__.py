"""Software-engineering tasks (``reason/RepoFix-v0``): small repositories, injected bugs, a trusted harness.

* :mod:`~reasongym.tasks.swe.repository` and :mod:`~reasongym.tasks.swe.repos` — four repositories written
  for this project, with visible and hidden test cases;
* :mod:`~reasongym.tasks.swe.mutations` — the seeded AST mutation operators;
* :mod:`~reasongym.tasks.swe.catalogue` (+ the generated :mod:`~reasongym.tasks.swe.verified`, rebuilt by
  :mod:`~reasongym.tasks.swe.build_catalogue`) — the mutants verified to break a hidden test;
* :mod:`~reasongym.tasks.swe.source` — the task source over them;
* :mod:`~reasongym.tasks.swe.runs` and :mod:`~reasongym.tasks.swe.harness` — sandbox runs: the grading
  harness and shell commands;
* :mod:`~reasongym.tasks.swe.session` — one episode's files and its five tools;
* :mod:`~reasongym.tasks.swe.prompts` — the task text.

See ``docs/swe.md``.
"""

from reasongym.tasks.swe.catalogue import Mutant, load
from reasongym.tasks.swe.mutations import OPERATORS, Site, apply_site, find_sites, fix_edit
from reasongym.tasks.swe.repos import REPOSITORIES
from reasongym.tasks.swe.repository import Case, Repository
from reasongym.tasks.swe.session import RepoSession
from reasongym.tasks.swe.source import Fix, RepoFixSource

__all__ = ["OPERATORS", "REPOSITORIES", "Case", "Fix", "Mutant", "RepoFixSource", "RepoSession", "Repository", "Site",
           "apply_site", "find_sites", "fix_edit", "load"]
