"""Procedural "search then calculate" tasks: facts scattered over a generated document collection.

Each item invents ten towns with made-up names, writes about three short documents per town (one
states its population, the others its area, elevation and charter year) plus documents about roads
between towns, and asks for the combined population of two or three towns or the difference between
two. Answering needs one search per town (the numbers exist nowhere else) and an exact computation.

Item metadata follows :class:`reasongym.envs.tools.ToolEnv`'s conventions: ``documents``,
``milestones`` (each population found by ``search``, the answer computed by ``calculator``) and the
oracle ``plan``.
"""

from __future__ import annotations

import numpy as np

from reasongym.tasks.base import TaskItem
from reasongym.tasks.tools.calls import ToolCall

_STARTS = ("Var", "Bel", "Cor", "Dun", "El", "Fen", "Gal", "Har", "Is", "Kel", "Lor", "Mar", "Nor", "Ost", "Pel",
           "Quen", "Ros", "Sal", "Tor", "Ul", "Ves", "Wyn", "Yar", "Zen")
_MIDDLES = ("", "a", "e", "i", "o", "ar", "en", "il", "or", "um")
_ENDS = ("holt", "by", "mere", "ford", "stead", "wick", "dale", "ton", "gard", "mouth", "brook", "field")
_POPULATION = (
    "The {year} census recorded a population of {pop} in {town}.",
    "{town} has a population of {pop}, most of whom work in the surrounding farms.",
    "With a population of {pop}, {town} is the market town of its valley.",
)
_GEOGRAPHY = (
    "{town} covers {area} square kilometres at an elevation of {elevation} metres.",
    "Built on a plateau {elevation} metres above sea level, {town} spreads over {area} square kilometres.",
)
_HISTORY = (
    "{town} received its town charter in {charter} and still holds a fair every spring.",
    "Records first mention {town} in {charter}, when a bridge was built over its river.",
)
_ROAD = "A road of {km} kilometres connects {a} and {b}; buses run every {minutes} minutes."
TOWNS = 10
ROADS = 8
PROMPT = ("Answer the question using the document collection, which you can only reach through the search tool; "
          "do not guess numbers. Compute exactly with the calculator.\n\nQuestion: {question}\n\n"
          "Give the final answer as a plain integer in <answer></answer>.")


def _town_names(rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    while len(names) < TOWNS:
        name = "".join(part[rng.integers(len(part))] for part in (_STARTS, _MIDDLES, _ENDS))
        if name not in names:
            names.append(name)
    return names


def _documents(rng: np.random.Generator, towns: list[str], populations: dict[str, int]) -> list[dict[str, str]]:
    texts = []
    census_year = int(rng.integers(2015, 2024))
    for town in towns:
        population = _POPULATION[rng.integers(len(_POPULATION))]
        texts.append(population.format(town=town, pop=populations[town], year=census_year))
        texts.append(_GEOGRAPHY[rng.integers(len(_GEOGRAPHY))].format(
            town=town, area=int(rng.integers(5, 900)), elevation=int(rng.integers(2, 1900))))
        texts.append(_HISTORY[rng.integers(len(_HISTORY))].format(town=town, charter=int(rng.integers(1150, 1900))))
    for _ in range(ROADS):
        a, b = rng.choice(len(towns), size=2, replace=False)
        km, minutes = int(rng.integers(3, 120)), int(rng.integers(10, 90))
        texts.append(_ROAD.format(km=km, a=towns[a], b=towns[b], minutes=minutes))
    order = rng.permutation(len(texts))
    return [{"id": f"doc-{k + 1:02d}", "text": texts[i]} for k, i in enumerate(order)]


def make_item(rng: np.random.Generator, index: int) -> TaskItem:
    """Item ``index`` drawn with ``rng`` (see the module docstring)."""
    towns = _town_names(rng)
    values = rng.choice(98_000, size=TOWNS, replace=False) + 2000
    populations = {town: int(v) for town, v in zip(towns, values, strict=True)}
    kind = ("sum", "sum", "difference")[rng.integers(3)]
    if kind == "sum":
        asked = [towns[i] for i in rng.choice(TOWNS, size=int(rng.integers(2, 4)), replace=False)]
        listed = ", ".join(asked[:-1]) + f" and {asked[-1]}"
        question = f"What is the combined population of {listed}?"
        expression = " + ".join(str(populations[t]) for t in asked)
        answer = sum(populations[t] for t in asked)
    else:
        asked = sorted((towns[i] for i in rng.choice(TOWNS, size=2, replace=False)), key=lambda t: -populations[t])
        question = f"How many more people live in {asked[0]} than in {asked[1]}?"
        expression = f"{populations[asked[0]]} - {populations[asked[1]]}"
        answer = populations[asked[0]] - populations[asked[1]]
    milestones = {f"found:{t}": {"tool": "search", "text": str(populations[t])} for t in asked}
    milestones["computed"] = {"tool": "calculator", "text": str(answer)}
    plan = [
        {"milestones": [f"found:{t}" for t in asked],
         "calls": [ToolCall("search", {"query": f"population of {t}"}).to_dict() for t in asked]},
        {"milestones": ["computed"], "calls": [ToolCall("calculator", {"expression": expression}).to_dict()]},
    ]
    return TaskItem(id=f"search-calc-{index}", prompt=PROMPT.format(question=question), answer=str(answer),
                    metadata={"documents": _documents(rng, towns, populations), "towns": asked, "kind": kind,
                              "milestones": milestones, "plan": plan})
