"""Sample-level metrics for evaluations with k samples per task.

* ``pass@k`` — the unbiased estimator of Chen et al. (2021): with ``n`` samples of which ``c`` are
  correct, ``1 - C(n-c, k) / C(n, k)``, computed as a stable product.
* ``avg@k`` — mean correctness over all samples (also called mean@k).
* ``maj@k`` — whether the most frequent final answer among the first ``k`` samples is correct
  (answers without a prediction do not vote; ties go to the answer seen first).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of ``k`` samples drawn from ``n`` (``c`` correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(preds: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Whether the majority prediction is correct (``preds[i]`` graded ``correct[i]``)."""
    votes = Counter(p for p in preds if p is not None)
    if not votes:
        return False
    winner = votes.most_common(1)[0][0]
    return any(ok for p, ok in zip(preds, correct) if p == winner)


def k_values(k: int) -> list[int]:
    """The ``k`` values to report: powers of two below ``k``, and ``k`` itself."""
    values = [1]
    while values[-1] * 2 < k:
        values.append(values[-1] * 2)
    return sorted(set(values + [k]))
