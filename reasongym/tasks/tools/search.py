"""Search over a local document collection with Okapi BM25, and the ``search`` tool built on it.

BM25 is small enough to write here (no dependency): lower-cased alphanumeric tokens, Lucene's
non-negative IDF ``log(1 + (N - df + 0.5) / (df + 0.5))``, and the usual ``k1``/``b`` saturation and
length normalisation. The index of an episode's corpus is built on the first search, so episodes that
never search pay nothing for it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Mapping, Sequence

from reasongym.tasks.tools.tool import Tool, ToolError

_TOKEN = re.compile(r"[0-9a-z]+")
MAX_QUERY_CHARS = 500


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters and digits."""
    return _TOKEN.findall(text.lower())


class BM25:
    """An Okapi BM25 index over ``documents`` (strings)."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self._counts = [Counter(tokenize(d)) for d in documents]
        self._lengths = [sum(c.values()) for c in self._counts]
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        frequency = Counter(term for counts in self._counts for term in counts)
        n = len(documents)
        self._idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query``."""
        terms = [t for t in tokenize(query) if t in self._idf]
        result = []
        for counts, length in zip(self._counts, self._lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self._avg_length) if self._avg_length else self.k1
            result.append(sum(self._idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm)
                              for t in terms if t in counts))
        return result

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best ``(document index, score)`` pairs with a positive score, best first (ties by index)."""
        ranked = sorted(((i, s) for i, s in enumerate(self.scores(query)) if s > 0), key=lambda p: (-p[1], p[0]))
        return ranked[:k]


class DocumentSearch:
    """The ``search`` tool over one episode's documents (``{"id", "text"}`` mappings).

    Args:
        top_k: how many documents one search returns.
    """

    def __init__(self, *, top_k: int = 3):
        self.top_k = top_k
        self._documents: list[Mapping[str, str]] = []
        self._index: BM25 | None = None

    def reset(self, documents: Sequence[Mapping[str, str]]) -> None:
        """Search ``documents`` from now on; the index is rebuilt lazily."""
        self._documents = list(documents)
        self._index = None

    def search(self, query: str) -> str:
        """Search the document collection and return the best matching documents.

        Args:
            query: keywords describing what you are looking for, e.g. "population of Varnholt".
        """
        if not query.strip():
            raise ToolError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if self._index is None:
            self._index = BM25([d["text"] for d in self._documents])
        hits = self._index.top(query, self.top_k)
        if not hits:
            return "No document matches the query."
        return "\n".join(f"[{self._documents[i]['id']}] {self._documents[i]['text']}" for i, _ in hits)

    def tools(self) -> list[Tool]:
        """The ``search`` tool bound to this collection."""
        return [Tool.from_function(self.search)]
