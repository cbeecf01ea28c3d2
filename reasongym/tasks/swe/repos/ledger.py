"""``ledger``: an inventory ledger with first-in first-out cost lots, written for RepoFix."""

from __future__ import annotations

from reasongym.tasks.swe.repository import Case, Repository

INIT = r'''"""An inventory ledger with first-in first-out cost accounting."""

from ledger.errors import InsufficientStock, LedgerError
from ledger.ledger import Ledger
from ledger.report import average_cost, low_stock, reorder_quantity, summary

__all__ = ["InsufficientStock", "Ledger", "LedgerError", "average_cost", "low_stock", "reorder_quantity",
           "summary"]
'''

ERRORS = r'''"""Errors raised by the ledger."""


class LedgerError(Exception):
    """An operation the ledger refuses."""


class InsufficientStock(LedgerError):
    """More units were requested than are in stock."""
'''

LEDGER = r'''"""Stock levels per item, kept as lots of ``[quantity, unit_cost]`` in arrival order."""

from ledger.errors import InsufficientStock, LedgerError


class Ledger:
    """Receives and ships goods; the oldest lots are shipped first (FIFO)."""

    def __init__(self):
        self._lots = {}
        self.history = []

    def receive(self, item, quantity, unit_cost):
        """Add a lot of ``quantity`` units bought at ``unit_cost`` each."""
        if quantity <= 0:
            raise LedgerError("quantity must be positive")
        if unit_cost < 0:
            raise LedgerError("unit cost cannot be negative")
        self._lots.setdefault(item, []).append([quantity, unit_cost])
        self.history.append(("receive", item, quantity))

    def stock(self, item):
        """Units of ``item`` in stock (0 for unknown items)."""
        return sum(quantity for quantity, _ in self._lots.get(item, []))

    def ship(self, item, quantity):
        """Remove ``quantity`` units, oldest lots first, and return the cost of the units shipped."""
        if quantity <= 0:
            raise LedgerError("quantity must be positive")
        available = self.stock(item)
        if quantity > available:
            raise InsufficientStock(f"{item}: {quantity} requested, {available} in stock")
        lots = self._lots[item]
        cost = 0
        remaining = quantity
        while remaining > 0:
            lot = lots[0]
            taken = min(lot[0], remaining)
            cost += taken * lot[1]
            lot[0] -= taken
            remaining -= taken
            if lot[0] == 0:
                lots.pop(0)
        self.history.append(("ship", item, quantity))
        return cost

    def value(self, item=None):
        """The cost of the units in stock, of one item or of all items."""
        names = [item] if item is not None else sorted(self._lots)
        total = 0
        for name in names:
            for quantity, unit_cost in self._lots.get(name, []):
                total += quantity * unit_cost
        return total

    def items(self):
        """The items with units in stock, sorted."""
        return sorted(name for name in self._lots if self.stock(name) > 0)
'''

REPORT = r'''"""Reports on a ledger."""


def low_stock(ledger, threshold):
    """The items in stock with fewer than ``threshold`` units, fewest first (ties by name)."""
    rows = [(ledger.stock(item), item) for item in ledger.items()]
    rows.sort()
    return [item for count, item in rows if count < threshold]


def reorder_quantity(stock, target, pack_size):
    """The units to order to reach ``target``, rounded up to whole packs of ``pack_size``."""
    if pack_size <= 0:
        raise ValueError("pack size must be positive")
    missing = target - stock
    if missing <= 0:
        return 0
    packs = (missing + pack_size - 1) // pack_size
    return packs * pack_size


def average_cost(ledger, item):
    """The mean unit cost of the units of ``item`` in stock, or None when there are none."""
    count = ledger.stock(item)
    if count == 0:
        return None
    return ledger.value(item) / count


def summary(ledger):
    """One line per item in stock: its units and their value."""
    lines = []
    for item in ledger.items():
        lines.append(f"{item}: {ledger.stock(item)} units worth {ledger.value(item)}")
    return lines
'''

_STOCKED = "book = Ledger()\nbook.receive('bolt', 10, 2)\nbook.receive('bolt', 5, 4)\nbook.receive('nut', 3, 1)"

REPOSITORY = Repository(
    name="ledger",
    summary="an inventory ledger: receive and ship goods with first-in first-out costing, plus stock reports",
    files={"ledger/__init__.py": INIT, "ledger/errors.py": ERRORS, "ledger/ledger.py": LEDGER,
           "ledger/report.py": REPORT},
    imports="from ledger import (InsufficientStock, Ledger, LedgerError, average_cost, low_stock, reorder_quantity,\n"
            "                    summary)",
    visible=(
        Case("test_stock_after_receive", "book.stock('bolt')", 15, setup=_STOCKED),
        Case("test_unknown_item_stock", "Ledger().stock('gear')", 0),
        Case("test_value", "book.value()", 43, setup=_STOCKED),
        Case("test_ship_too_much", "book.ship('nut', 4)", raises="InsufficientStock", setup=_STOCKED),
        Case("test_reorder_nothing_missing", "reorder_quantity(10, 8, 6)", 0),
        Case("test_receive_zero", "Ledger().receive('x', 0, 1)", raises="LedgerError"),
    ),
    hidden=(
        Case("test_ship_fifo_cost", "book.ship('bolt', 12)", 28, setup=_STOCKED),
        Case("test_ship_within_first_lot", "book.ship('bolt', 4)", 8, setup=_STOCKED),
        Case("test_ship_whole_first_lot", "[book.ship('bolt', 10), book.stock('bolt')]", [20, 5], setup=_STOCKED),
        Case("test_stock_after_ship", "book.stock('bolt')", 3, setup=_STOCKED + "\nbook.ship('bolt', 12)"),
        Case("test_value_after_ship", "book.value('bolt')", 12, setup=_STOCKED + "\nbook.ship('bolt', 12)"),
        Case("test_ship_everything", "[book.ship('bolt', 15), book.stock('bolt'), book.value('bolt')]", [40, 0, 0],
             setup=_STOCKED),
        Case("test_ship_exact_stock", "book.ship('nut', 3)", 3, setup=_STOCKED),
        Case("test_ship_unknown", "Ledger().ship('gear', 1)", raises="InsufficientStock"),
        Case("test_ship_zero", "book.ship('nut', 0)", raises="LedgerError", setup=_STOCKED),
        Case("test_receive_negative_cost", "Ledger().receive('x', 1, -1)", raises="LedgerError"),
        Case("test_receive_free", "[book.stock('x'), book.value()]", [2, 0],
             setup="book = Ledger()\nbook.receive('x', 2, 0)"),
        Case("test_value_one_item", "book.value('nut')", 3, setup=_STOCKED),
        Case("test_value_unknown_item", "book.value('gear')", 0, setup=_STOCKED),
        Case("test_history", "book.history", [("receive", "nut", 3), ("ship", "nut", 2)],
             setup="book = Ledger()\nbook.receive('nut', 3, 1)\nbook.ship('nut', 2)"),
        Case("test_items_sorted", "book.items()", ["bolt", "nut"], setup=_STOCKED),
        Case("test_items_skip_empty", "book.items()", ["bolt"], setup=_STOCKED + "\nbook.ship('nut', 3)"),
        Case("test_low_stock", "low_stock(book, 5)", ["nut"], setup=_STOCKED),
        Case("test_low_stock_order", "low_stock(book, 100)", ["nut", "bolt"], setup=_STOCKED),
        Case("test_low_stock_threshold_exclusive", "low_stock(book, 3)", [], setup=_STOCKED),
        Case("test_low_stock_ties_by_name", "low_stock(book, 9)", ["a", "b"],
             setup="book = Ledger()\nbook.receive('b', 4, 1)\nbook.receive('a', 4, 1)"),
        Case("test_reorder_round_up", "reorder_quantity(3, 10, 4)", 8),
        Case("test_reorder_exact_packs", "reorder_quantity(2, 10, 4)", 8),
        Case("test_reorder_one_missing", "reorder_quantity(9, 10, 6)", 6),
        Case("test_reorder_at_target", "reorder_quantity(10, 10, 3)", 0),
        Case("test_reorder_bad_pack", "reorder_quantity(1, 10, 0)", raises="ValueError"),
        Case("test_average_cost", "average_cost(book, 'bolt')", 40 / 15, setup=_STOCKED),
        Case("test_average_cost_after_ship", "average_cost(book, 'bolt')", 4.0,
             setup=_STOCKED + "\nbook.ship('bolt', 12)"),
        Case("test_average_cost_none", "average_cost(book, 'gear')", None, setup=_STOCKED),
        Case("test_summary", "summary(book)", ["bolt: 15 units worth 40", "nut: 3 units worth 3"], setup=_STOCKED),
    ),
)
