"""AST-located, text-applied mutation operators: the bugs RepoFix injects.

Each operator finds *sites* in a module's source with :mod:`ast` and describes each site as a text edit
(a character span and its replacement), so a mutant differs from the original in a few characters and
the rest of the file keeps its formatting. Only code inside function bodies is mutated, never code inside
f-strings (whose node positions Python 3.11 does not report reliably).

=================== ==================================================================================
operator            what changes at a site
=================== ==================================================================================
``flip_comparison`` ``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=`` trade places
``off_by_one``      a ``range()`` start/stop or a slice bound gets ``+ 1`` or ``- 1`` (two mutants)
``swap_arguments``  the first two positional arguments of a call trade places
``wrong_operator``  ``+``/``-``, ``*`` -> ``+``, ``/``/``//``, ``%`` -> ``//``, ``**`` -> ``*`` (also in
                    augmented assignments), ``and``/``or``
``drop_negation``   ``not x`` -> ``x``, ``-x`` -> ``x``
``wrong_return``    ``return name`` returns another parameter or local assigned earlier (up to two
                    mutants, alphabetical)
=================== ==================================================================================

The sites of one operator in one file are numbered in source order; ``(path, operator, index)`` names a
mutant. :func:`fix_edit` gives the inverse edit as an ``old -> new`` string replacement on whole lines,
unique in the mutated file: what an agent that found the bug would type (and what the oracle types).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

OPERATORS: tuple[str, ...] = ("flip_comparison", "off_by_one", "swap_arguments", "wrong_operator", "drop_negation",
                              "wrong_return")

_FLIPPED = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
            ast.Eq: ("==", "!="), ast.NotEq: ("!=", "==")}
_WRONG_OPERATOR = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "+"), ast.Div: ("/", "//"),
                   ast.FloorDiv: ("//", "/"), ast.Mod: ("%", "//"), ast.Pow: ("**", "*")}
_WRONG_BOOL = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
_NEGATIONS = {ast.Not: "not", ast.USub: "-"}
#: expressions that bind at least as tightly as ``+``, so ``+ 1`` can follow them without parentheses
_TIGHT = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant, ast.UnaryOp)
_TIGHT_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_MAX_RETURN_ALTERNATIVES = 2


@dataclass(frozen=True)
class Site:
    """One place a mutation can be applied: replace ``source[start:end]`` with ``replacement``."""

    operator: str
    start: int
    end: int
    replacement: str
    #: what the bug is, e.g. ``"`<` became `<=`"`` (shown in docs and logs, never to the agent)
    description: str


class _Offsets:
    """Character offsets of AST positions in an ASCII source."""

    def __init__(self, source: str):
        if not source.isascii():
            raise ValueError("mutation needs ASCII sources (AST column offsets are byte offsets)")
        self.source = source
        self._line_starts = [0]
        for line in source.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(line))

    def start(self, node: ast.AST) -> int:
        return self._line_starts[node.lineno - 1] + node.col_offset

    def end(self, node: ast.AST) -> int:
        return self._line_starts[node.end_lineno - 1] + node.end_col_offset

    def text(self, node: ast.AST) -> str:
        return self.source[self.start(node):self.end(node)]


def _token_site(offsets: _Offsets, operator: str, gap_start: int, gap_end: int, old: str, new: str) -> Site:
    """Replace token ``old`` found between two operands (the gap holds only it, spaces and brackets)."""
    at = offsets.source.index(old, gap_start, gap_end)
    return Site(operator, at, at + len(old), new, f"`{old}` became `{new}`")


def _shift(offsets: _Offsets, node: ast.expr, delta: int) -> str:
    """The text of ``node`` plus ``delta`` (folded into a trailing integer constant when there is one)."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return str(node.value + delta)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))
            and isinstance(node.right, ast.Constant) and type(node.right.value) is int):
        constant = node.right.value + (delta if isinstance(node.op, ast.Add) else -delta)
        head = offsets.text(node.left)
        if constant == 0:
            return head
        sign = "+" if isinstance(node.op, ast.Add) else "-"
        return f"{head} {sign} {constant}" if constant > 0 else f"{head} {'-' if sign == '+' else '+'} {-constant}"
    tight = isinstance(node, _TIGHT) or (isinstance(node, ast.BinOp) and isinstance(node.op, _TIGHT_BINOPS))
    text = offsets.text(node) if tight else f"({offsets.text(node)})"
    return f"{text} + {delta}" if delta > 0 else f"{text} - {-delta}"


def _bound_sites(offsets: _Offsets, bound: ast.expr, what: str) -> Iterator[Site]:
    for delta in (1, -1):
        replacement = _shift(offsets, bound, delta)
        yield Site("off_by_one", offsets.start(bound), offsets.end(bound), replacement,
                   f"{what} `{offsets.text(bound)}` became `{replacement}`")


def _defined_before(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, line: int) -> set[str]:
    """Parameters of ``function`` and names it assigns on lines before ``line``."""
    arguments = function.args
    names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.lineno < line:
            names.add(node.id)
    return names - {"self", "cls"}


class _SiteFinder(ast.NodeVisitor):
    """Collects the sites of every operator inside function bodies."""

    def __init__(self, offsets: _Offsets):
        self.offsets = offsets
        self.sites: list[Site] = []
        self._functions: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []

    def _inside(self, node: ast.AST) -> None:
        self._functions.append(node)  # type: ignore[arg-type]
        self.generic_visit(node)
        self._functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _inside

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """Nothing inside an f-string is mutated."""

    def generic_visit(self, node: ast.AST) -> None:
        if self._functions:
            self._collect(node)
        super().generic_visit(node)

    def _collect(self, node: ast.AST) -> None:
        o, add = self.offsets, self.sites.append
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                if type(op) in _FLIPPED:
                    add(_token_site(o, "flip_comparison", o.end(operands[i]), o.start(operands[i + 1]),
                                    *_FLIPPED[type(op)]))
        elif isinstance(node, ast.BinOp) and type(node.op) in _WRONG_OPERATOR:
            old, new = _WRONG_OPERATOR[type(node.op)]
            add(_token_site(o, "wrong_operator", o.end(node.left), o.start(node.right), old, new))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _WRONG_OPERATOR:
            old, new = _WRONG_OPERATOR[type(node.op)]
            add(_token_site(o, "wrong_operator", o.end(node.target), o.start(node.value), old + "=", new + "="))
        elif isinstance(node, ast.BoolOp):
            for left, right in zip(node.values, node.values[1:]):
                add(_token_site(o, "wrong_operator", o.end(left), o.start(right), *_WRONG_BOOL[type(node.op)]))
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _NEGATIONS:
            prefix = o.source[o.start(node):o.start(node.operand)]
            keyword = _NEGATIONS[type(node.op)]
            kept = prefix[len(keyword):].lstrip(" ")
            add(Site("drop_negation", o.start(node), o.start(node.operand), kept, f"`{prefix.strip()}` was dropped"))
        elif isinstance(node, ast.Call):
            self._call_sites(node)
        elif isinstance(node, ast.Slice):
            for bound, what in ((node.lower, "slice start"), (node.upper, "slice stop")):
                if bound is not None:
                    self.sites.extend(_bound_sites(o, bound, what))
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            self._return_sites(node, node.value)

    def _call_sites(self, node: ast.Call) -> None:
        o = self.offsets
        positional = node.args
        if isinstance(node.func, ast.Name) and node.func.id == "range" and not any(
                isinstance(a, ast.Starred) for a in positional):
            bounds = [(positional[-1], "range stop")] if len(positional) == 1 else \
                [(positional[0], "range start"), (positional[1], "range stop")]
            for bound, what in bounds:
                self.sites.extend(_bound_sites(o, bound, what))
        if len(positional) >= 2 and not any(isinstance(a, ast.Starred) for a in positional[:2]):
            first, second = positional[0], positional[1]
            if o.text(first) != o.text(second):
                between = o.source[o.end(first):o.start(second)]
                self.sites.append(Site("swap_arguments", o.start(first), o.end(second),
                                       o.text(second) + between + o.text(first),
                                       f"arguments `{o.text(first)}` and `{o.text(second)}` were swapped"))

    def _return_sites(self, node: ast.Return, value: ast.Name) -> None:
        o = self.offsets
        candidates = sorted(_defined_before(self._functions[-1], node.lineno) - {value.id})
        for name in candidates[:_MAX_RETURN_ALTERNATIVES]:
            self.sites.append(Site("wrong_return", o.start(value), o.end(value), name,
                                   f"`return {value.id}` became `return {name}`"))


def find_sites(source: str, operator: str) -> list[Site]:
    """Every site of ``operator`` in ``source``, in source order (the index names the mutant)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown mutation operator {operator!r}; choose one of {list(OPERATORS)}")
    return list(_sorted_sites(source, operator))


@lru_cache(maxsize=256)
def _sorted_sites(source: str, operator: str) -> tuple[Site, ...]:
    """Cached: every reset of a RepoFix episode asks again for a site of one of a few dozen files."""
    finder = _SiteFinder(_Offsets(source))
    finder.visit(ast.parse(source))
    sites = [site for site in finder.sites if site.operator == operator]
    return tuple(sorted(sites, key=lambda s: (s.start, s.end, s.replacement)))


def apply_site(source: str, site: Site) -> str:
    """The mutated source."""
    return source[:site.start] + site.replacement + source[site.end:]


def fix_edit(source: str, site: Site) -> tuple[str, str]:
    """``(old, new)``: whole lines of the mutant to replace, and the original lines, with ``old``
    occurring exactly once in the mutant (widened by a line at a time until it does)."""
    mutant = apply_site(source, site)
    first = source.rfind("\n", 0, site.start) + 1
    last = source.find("\n", site.end)
    last = len(source) if last == -1 else last
    delta = len(site.replacement) - (site.end - site.start)
    while True:
        old, new = mutant[first:last + delta], source[first:last]
        if mutant.count(old) == 1:
            return old, new
        first = source.rfind("\n", 0, max(first - 1, 0)) + 1
        following = source.find("\n", last + 1)
        last = len(source) if following == -1 else following
