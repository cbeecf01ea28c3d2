"""``intervals``: half-open numeric intervals and calendar-date arithmetic, written for RepoFix."""

from __future__ import annotations

from reasongym.tasks.swe.repository import Case, Repository

INIT = r'''"""Half-open intervals and calendar dates."""

from intervals.dates import add_days, date_from_day_of_year, day_of_year, days_in_month, is_leap_year
from intervals.interval import Interval
from intervals.ops import coverage, gaps, merge, split, total_length

__all__ = ["Interval", "add_days", "coverage", "date_from_day_of_year", "day_of_year", "days_in_month", "gaps",
           "is_leap_year", "merge", "split", "total_length"]
'''

INTERVAL = r'''"""A half-open interval ``[start, end)``."""


class Interval:
    """The numbers ``x`` with ``start <= x < end``."""

    def __init__(self, start, end):
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        self.start = start
        self.end = end

    def __eq__(self, other):
        return isinstance(other, Interval) and self.as_tuple() == other.as_tuple()

    def __repr__(self):
        return f"Interval({self.start}, {self.end})"

    def as_tuple(self):
        return (self.start, self.end)

    @property
    def length(self):
        return self.end - self.start

    def is_empty(self):
        return self.start == self.end

    def contains(self, point):
        return self.start <= point < self.end

    def overlaps(self, other):
        """Whether the two intervals share at least one point."""
        return self.start < other.end and other.start < self.end

    def touches(self, other):
        """Whether the two intervals overlap or meet end to start."""
        return self.start <= other.end and other.start <= self.end

    def intersection(self, other):
        """The common part, or None when the intervals do not overlap."""
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        if start >= end:
            return None
        return Interval(start, end)

    def shift(self, offset):
        return Interval(self.start + offset, self.end + offset)
'''

OPS = r'''"""Operations on collections of intervals."""

from intervals.interval import Interval


def merge(intervals):
    """Merge overlapping or touching intervals; the result is sorted and disjoint."""
    ordered = sorted(intervals, key=lambda item: (item.start, item.end))
    merged = []
    for current in ordered:
        if merged and merged[-1].touches(current):
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, current.end))
        else:
            merged.append(current)
    return merged


def total_length(intervals):
    """The length of the union of the intervals."""
    return sum(item.length for item in merge(intervals))


def gaps(intervals, low, high):
    """The parts of ``[low, high)`` covered by none of the intervals, in order."""
    result = []
    cursor = low
    for item in merge(intervals):
        if item.end <= low or item.start >= high:
            continue
        if item.start > cursor:
            result.append(Interval(cursor, item.start))
        cursor = max(cursor, item.end)
    if cursor < high:
        result.append(Interval(cursor, high))
    return result


def coverage(intervals, points):
    """For each point, how many of the intervals contain it."""
    counts = []
    for point in points:
        count = 0
        for item in intervals:
            if item.contains(point):
                count += 1
        counts.append(count)
    return counts


def split(interval, size):
    """Cut an interval into consecutive pieces of ``size``; the last piece may be shorter."""
    if size <= 0:
        raise ValueError("size must be positive")
    pieces = []
    start = interval.start
    while start < interval.end:
        end = min(start + size, interval.end)
        pieces.append(Interval(start, end))
        start = end
    return pieces
'''

DATES = r'''"""Dates as ``(year, month, day)`` tuples in the proleptic Gregorian calendar."""

DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap_year(year):
    if year % 400 == 0:
        return True
    if year % 100 == 0:
        return False
    return year % 4 == 0


def year_length(year):
    if is_leap_year(year):
        return 366
    return 365


def days_in_month(year, month):
    if month < 1 or month > 12:
        raise ValueError(f"no month {month}")
    if month == 2 and is_leap_year(year):
        return 29
    return DAYS_IN_MONTH[month - 1]


def day_of_year(year, month, day):
    """1 for January 1st, up to 365 or 366."""
    if day < 1 or day > days_in_month(year, month):
        raise ValueError(f"no day {day} in month {month}")
    total = day
    for earlier in range(1, month):
        total += days_in_month(year, earlier)
    return total


def date_from_day_of_year(year, number):
    """The date of day ``number`` (1-based) of ``year``."""
    if not 1 <= number <= year_length(year):
        raise ValueError(f"day {number} is outside year {year}")
    month = 1
    remaining = number
    while remaining > days_in_month(year, month):
        remaining -= days_in_month(year, month)
        month += 1
    return (year, month, remaining)


def add_days(date, days):
    """The date ``days`` days after ``date`` (before it when ``days`` is negative)."""
    year, month, day = date
    number = day_of_year(year, month, day) + days
    while number > year_length(year):
        number -= year_length(year)
        year += 1
    while number < 1:
        year -= 1
        number += year_length(year)
    return date_from_day_of_year(year, number)
'''

REPOSITORY = Repository(
    name="intervals",
    summary="half-open numeric intervals (merge, gaps, coverage) and calendar-date arithmetic on (year, month, day)",
    files={"intervals/__init__.py": INIT, "intervals/interval.py": INTERVAL, "intervals/ops.py": OPS,
           "intervals/dates.py": DATES},
    imports="from intervals import (Interval, add_days, coverage, date_from_day_of_year, day_of_year, days_in_month,\n"
            "                       gaps, is_leap_year, merge, split, total_length)",
    visible=(
        Case("test_length", "Interval(2, 7).length", 5),
        Case("test_merge_overlapping", "[i.as_tuple() for i in merge([Interval(1, 3), Interval(2, 5)])]", [(1, 5)]),
        Case("test_contains_start", "Interval(1, 3).contains(1)", True),
        Case("test_leap_year", "is_leap_year(2024)", True),
        Case("test_day_of_year", "day_of_year(2023, 2, 1)", 32),
        Case("test_reversed_interval", "Interval(5, 1)", raises="ValueError"),
    ),
    hidden=(
        Case("test_empty_interval_allowed", "Interval(3, 3).is_empty()", True),
        Case("test_not_empty", "Interval(3, 4).is_empty()", False),
        Case("test_contains_end_excluded", "Interval(1, 3).contains(3)", False),
        Case("test_contains_inside", "Interval(1, 3).contains(2.5)", True),
        Case("test_contains_before", "Interval(1, 3).contains(0)", False),
        Case("test_overlaps", "Interval(1, 5).overlaps(Interval(4, 8))", True),
        Case("test_adjacent_do_not_overlap", "Interval(1, 4).overlaps(Interval(4, 8))", False),
        Case("test_overlap_symmetric", "Interval(4, 8).overlaps(Interval(1, 5))", True),
        Case("test_disjoint_do_not_overlap", "Interval(1, 2).overlaps(Interval(5, 8))", False),
        Case("test_intersection", "Interval(1, 5).intersection(Interval(3, 9)).as_tuple()", (3, 5)),
        Case("test_intersection_nested", "Interval(1, 9).intersection(Interval(3, 4)).as_tuple()", (3, 4)),
        Case("test_intersection_adjacent", "Interval(1, 4).intersection(Interval(4, 8))", None),
        Case("test_shift", "Interval(1, 4).shift(-2).as_tuple()", (-1, 2)),
        Case("test_equality", "[Interval(1, 2) == Interval(1, 2), Interval(1, 2) == Interval(1, 3)]", [True, False]),
        Case("test_merge_touching", "[i.as_tuple() for i in merge([Interval(4, 6), Interval(1, 4)])]", [(1, 6)]),
        Case("test_merge_disjoint_sorted",
             "[i.as_tuple() for i in merge([Interval(7, 9), Interval(1, 2), Interval(4, 5)])]",
             [(1, 2), (4, 5), (7, 9)]),
        Case("test_merge_nested", "[i.as_tuple() for i in merge([Interval(1, 10), Interval(2, 3)])]", [(1, 10)]),
        Case("test_merge_chain",
             "[i.as_tuple() for i in merge([Interval(5, 8), Interval(1, 3), Interval(2, 6), Interval(10, 11)])]",
             [(1, 8), (10, 11)]),
        Case("test_total_length", "total_length([Interval(1, 4), Interval(3, 6), Interval(10, 12)])", 7),
        Case("test_gaps", "[i.as_tuple() for i in gaps([Interval(2, 4), Interval(6, 7)], 0, 10)]",
             [(0, 2), (4, 6), (7, 10)]),
        Case("test_gaps_clipped", "[i.as_tuple() for i in gaps([Interval(-5, 3), Interval(8, 20)], 0, 10)]",
             [(3, 8)]),
        Case("test_gaps_full_cover", "gaps([Interval(0, 10)], 0, 10)", []),
        Case("test_gaps_outside", "[i.as_tuple() for i in gaps([Interval(20, 30)], 0, 10)]", [(0, 10)]),
        Case("test_coverage", "coverage([Interval(0, 5), Interval(3, 8)], [0, 3, 5, 8])", [1, 2, 1, 0]),
        Case("test_split", "[i.as_tuple() for i in split(Interval(0, 10), 4)]", [(0, 4), (4, 8), (8, 10)]),
        Case("test_split_exact", "[i.as_tuple() for i in split(Interval(2, 8), 3)]", [(2, 5), (5, 8)]),
        Case("test_split_bad_size", "split(Interval(0, 1), 0)", raises="ValueError"),
        Case("test_century_not_leap", "is_leap_year(1900)", False),
        Case("test_400_is_leap", "is_leap_year(2000)", True),
        Case("test_common_year", "is_leap_year(2023)", False),
        Case("test_february_leap", "days_in_month(2024, 2)", 29),
        Case("test_february_common", "days_in_month(2023, 2)", 28),
        Case("test_days_in_month_all", "[days_in_month(2023, m) for m in range(1, 13)]",
             [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]),
        Case("test_bad_month", "days_in_month(2023, 13)", raises="ValueError"),
        Case("test_month_zero", "days_in_month(2023, 0)", raises="ValueError"),
        Case("test_day_of_year_first", "day_of_year(2023, 1, 1)", 1),
        Case("test_day_of_year_last_leap", "day_of_year(2024, 12, 31)", 366),
        Case("test_day_of_year_march_leap", "day_of_year(2024, 3, 1)", 61),
        Case("test_bad_day", "day_of_year(2023, 2, 29)", raises="ValueError"),
        Case("test_day_zero", "day_of_year(2023, 5, 0)", raises="ValueError"),
        Case("test_from_day_of_year", "date_from_day_of_year(2024, 60)", (2024, 2, 29)),
        Case("test_from_day_of_year_last", "date_from_day_of_year(2023, 365)", (2023, 12, 31)),
        Case("test_from_day_of_year_first", "date_from_day_of_year(2023, 1)", (2023, 1, 1)),
        Case("test_from_day_of_year_month_end", "date_from_day_of_year(2023, 31)", (2023, 1, 31)),
        Case("test_from_day_of_year_out_of_range", "date_from_day_of_year(2023, 366)", raises="ValueError"),
        Case("test_add_days", "add_days((2023, 1, 30), 3)", (2023, 2, 2)),
        Case("test_add_days_over_year", "add_days((2023, 12, 30), 5)", (2024, 1, 4)),
        Case("test_add_days_backwards", "add_days((2024, 1, 2), -3)", (2023, 12, 30)),
        Case("test_add_days_zero", "add_days((2024, 2, 29), 0)", (2024, 2, 29)),
        Case("test_add_days_across_leap_year", "add_days((2024, 1, 1), 366)", (2025, 1, 1)),
    ),
)
