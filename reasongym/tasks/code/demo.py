"""Embedded stdin/stdout problems: the offline default of ``reason/StdioCode-v0`` (and its demos).

Small problems written for this project (no third-party text), stored as CodeContests-format records so
they go through the same parser as real data. Each has public and private tests and a reference program.
"""

from __future__ import annotations

import textwrap
from typing import Any


def _problem(name: str, description: str, solution: str, public: dict[str, list[str]],
             private: dict[str, list[str]]) -> dict[str, Any]:
    return {"name": name, "description": textwrap.dedent(description).strip(), "public_tests": public,
            "private_tests": private,
            "solutions": {"language": [3], "solution": [textwrap.dedent(solution).lstrip()]}}


DEMO_RECORDS: tuple[dict[str, Any], ...] = (
    _problem(
        'demo-pair-sums',
        """
        Each line after the first holds two integers a and b. Print a + b for every pair, one result per line.

        Input: the first line holds n (1 <= n <= 1000); n lines with two integers -10^18 <= a, b <= 10^18 follow.
        Output: n lines, the sums in input order.
        """,
        """
        import sys
        data = sys.stdin.read().split()
        n = int(data[0])
        print("\\n".join(str(int(data[1 + 2 * i]) + int(data[2 + 2 * i])) for i in range(n)))
        """,
        public={"input": ['3\n1 2\n-5 5\n100 23\n'],
                "output": ['3\n0\n123\n']},
        private={"input": ['1\n1000000000000000000 1000000000000000000\n', '2\n-7 -8\n0 0\n'],
                 "output": ['2000000000000000000\n', '-15\n0\n']},
    ),
    _problem(
        'demo-reverse-words',
        """
        Print the words of a line in reverse order, separated by single spaces.

        Input: one line of at most 1000 words made of letters, separated by one or more spaces.
        Output: the words in reverse order.
        """,
        """
        print(" ".join(reversed(input().split())))
        """,
        public={"input": ['the quick brown fox\n'],
                "output": ['fox brown quick the\n']},
        private={"input": ['single\n', 'a  b   c\n', 'Hello World\n'],
                 "output": ['single\n', 'c b a\n', 'World Hello\n']},
    ),
    _problem(
        'demo-mean-spread',
        """
        Given n real numbers, print their mean and their population standard deviation on one line, separated
        by a space. Answers within 1e-6 (absolute or relative) of the true values are accepted.

        Input: n (1 <= n <= 10^5) on the first line, then n real numbers separated by spaces.
        Output: the mean and the standard deviation.
        """,
        """
        import math
        n = int(input())
        xs = [float(x) for x in input().split()]
        mean = sum(xs) / n
        print(f"{mean:.9f} {math.sqrt(sum((x - mean) ** 2 for x in xs) / n):.9f}")
        """,
        public={"input": ['4\n1 2 3 4\n'],
                "output": ['2.500000000 1.118033989\n']},
        private={"input": ['1\n5.5\n', '3\n0.1 0.2 0.3\n', '5\n-1 -1 -1 2 2\n'],
                 "output": ['5.500000000 0.000000000\n', '0.200000000 0.081649658\n', '0.200000000 1.469693846\n']},
    ),
    _problem(
        'demo-longest-run',
        """
        Print the length of the longest block of equal consecutive characters in a string.

        Input: one line with a non-empty string of lowercase letters (at most 10^5 characters).
        Output: one integer.
        """,
        """
        s = input().strip()
        best = run = 1
        for a, b in zip(s, s[1:]):
            run = run + 1 if a == b else 1
            best = max(best, run)
        print(best)
        """,
        public={"input": ['aabbbcc\n'],
                "output": ['3\n']},
        private={"input": ['z\n', 'abcdef\n', 'qqqqqqqqqqwq\n'],
                 "output": ['1\n', '1\n', '10\n']},
    ),
    _problem(
        'demo-grid-paths',
        """
        A robot starts at the top-left corner of an R x C grid of cells and moves only right or down, one cell at
        a time, until it reaches the bottom-right corner. Print the number of different routes modulo 1000000007.

        Input: two integers R and C (1 <= R, C <= 1000).
        Output: one integer.
        """,
        """
        from math import comb
        r, c = map(int, input().split())
        print(comb(r + c - 2, r - 1) % 1000000007)
        """,
        public={"input": ['2 2\n', '3 3\n'],
                "output": ['2\n', '6\n']},
        private={"input": ['1 1\n', '1 1000\n', '1000 1000\n'],
                 "output": ['1\n', '1\n', '965601742\n']},
    ),
    _problem(
        'demo-brackets',
        """
        For each string of brackets ()[]{} decide whether it is balanced: every opening bracket is closed by the
        matching bracket, in the right order.

        Input: t (1 <= t <= 100) on the first line, then t lines each with a string of at most 1000 brackets.
        Output: t lines, YES or NO.
        """,
        """
        t = int(input())
        pairs = {")": "(", "]": "[", "}": "{"}
        for _ in range(t):
            stack = []
            ok = True
            for ch in input().strip():
                if ch in "([{":
                    stack.append(ch)
                elif not stack or stack.pop() != pairs[ch]:
                    ok = False
                    break
            print("YES" if ok and not stack else "NO")
        """,
        public={"input": ['3\n()[]{}\n([)]\n{[()]}\n'],
                "output": ['YES\nNO\nYES\n']},
        private={"input": ['1\n((\n', '4\n)\n[]\n{}{\n([]{})\n'],
                 "output": ['NO\n', 'NO\nYES\nNO\nYES\n']},
    ),
    _problem(
        'demo-prime-count',
        """
        Print how many prime numbers are at most n.

        Input: one integer n (1 <= n <= 10^6).
        Output: one integer.
        """,
        """
        n = int(input())
        sieve = bytearray([1]) * (n + 1)
        sieve[0:2] = b"\\x00\\x00"[: n + 1]
        for p in range(2, int(n ** 0.5) + 1):
            if sieve[p]:
                sieve[p * p :: p] = bytearray(len(range(p * p, n + 1, p)))
        print(sum(sieve))
        """,
        public={"input": ['10\n'],
                "output": ['4\n']},
        private={"input": ['1\n', '2\n', '1000000\n'],
                 "output": ['0\n', '1\n', '78498\n']},
    ),
)
