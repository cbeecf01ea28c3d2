"""Maximum-weight assignment between two small sets (Hungarian algorithm, O(n^3)).

Used to pair predicted tool calls with gold calls regardless of order: the AST checker asks whether a
perfect pairing of passing calls exists, ToolRL's correctness reward takes the best-scoring pairing.
"""

from __future__ import annotations

import math
from typing import Sequence


def max_weight_assignment(weights: Sequence[Sequence[float]]) -> list[int | None]:
    """For each row, the column it is paired with (``None`` if none), maximising the summed weight.

    ``weights[i][j] >= 0`` scores pairing row ``i`` with column ``j``; every row and column is used at most
    once, and pairs of weight 0 are reported as unpaired.
    """
    rows = len(weights)
    cols = len(weights[0]) if rows else 0
    if rows == 0 or cols == 0:
        return [None] * rows
    size = max(rows, cols)
    cost = [[-(weights[i][j] if i < rows and j < cols else 0.0) for j in range(size)] for i in range(size)]
    # potentials and the column -> row assignment, 1-based with 0 as a sentinel (classic formulation)
    u, v = [0.0] * (size + 1), [0.0] * (size + 1)
    owner, way = [0] * (size + 1), [0] * (size + 1)
    for row in range(1, size + 1):
        owner[0], col = row, 0
        slack, used = [math.inf] * (size + 1), [False] * (size + 1)
        while owner[col] != 0:
            used[col] = True
            current, delta, next_col = owner[col], math.inf, 0
            for j in range(1, size + 1):
                if used[j]:
                    continue
                reduced = cost[current - 1][j - 1] - u[current] - v[j]
                if reduced < slack[j]:
                    slack[j], way[j] = reduced, col
                if slack[j] < delta:
                    delta, next_col = slack[j], j
            for j in range(size + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    slack[j] -= delta
            col = next_col
        while col:
            previous = way[col]
            owner[col] = owner[previous]
            col = previous
    pairs: list[int | None] = [None] * rows
    for j in range(1, size + 1):
        i = owner[j] - 1
        if i < rows and j - 1 < cols and weights[i][j - 1] > 0:
            pairs[i] = j - 1
    return pairs
