"""Per-conversation seeds derived from one ``SamplingParams.seed``.

Every backend gives conversation ``i`` of a ``generate`` call its own seed, derived from the call's seed
and ``i``. This makes a completion depend only on (seed, position, conversation), not on how a backend
batches or schedules requests, and gives repeated copies of one conversation (a GRPO group) distinct
samples. The derivation uses numpy's ``SeedSequence`` hashing, so nearby seeds give unrelated streams.
No global random state is read or written.
"""

from __future__ import annotations

import secrets
from typing import Sequence

import numpy as np

_SEED_BITS = 31  # fits int32 APIs (llama.cpp, some OpenAI-compatible servers) as well as torch


def base_seed(seed: int | None) -> int:
    """Return ``seed`` as a non-negative int, or a fresh OS-random seed when ``seed`` is ``None``."""
    if seed is None:
        return secrets.randbits(_SEED_BITS)
    return seed % 2**64


def row_seed(base: int, index: int) -> int:
    """Seed of the ``index``-th conversation of a call whose seed is ``base`` (a 31-bit int)."""
    state = np.random.SeedSequence([base % 2**64, index]).generate_state(1, dtype=np.uint32)
    return int(state[0]) >> (32 - _SEED_BITS)


def resolve_seeds(seeds: Sequence[int] | None, seed: int | None, n: int) -> list[int]:
    """Per-row seeds of a call with ``n`` rows: ``seeds`` as given, or derived from ``seed`` by :func:`row_seed`.

    Raises:
        ValueError: when explicit ``seeds`` do not match the number of rows.
    """
    if seeds is None:
        base = base_seed(seed)
        return [row_seed(base, i) for i in range(n)]
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} prompts")
    return [int(s) for s in seeds]
