"""``rpn``: a stack-based (reverse Polish notation) calculator, written for RepoFix."""

from __future__ import annotations

from reasongym.tasks.swe.repository import Case, Repository

INIT = r'''"""A stack-based (reverse Polish notation) calculator."""

from rpn.calc import evaluate, tokenize
from rpn.errors import CalcError, StackError
from rpn.stack import Stack

__all__ = ["CalcError", "Stack", "StackError", "evaluate", "tokenize"]
'''

ERRORS = r'''"""Errors raised by the calculator."""


class CalcError(Exception):
    """An expression that cannot be evaluated."""


class StackError(CalcError):
    """Too few values on the stack for an operation."""
'''

STACK = r'''"""A last-in, first-out stack of numbers."""

from rpn.errors import StackError


class Stack:
    """A stack; ``items`` lists the values bottom first."""

    def __init__(self, items=None):
        self._items = list(items) if items is not None else []

    def __len__(self):
        return len(self._items)

    def push(self, value):
        self._items.append(value)

    def pop(self):
        if not self._items:
            raise StackError("pop from an empty stack")
        return self._items.pop()

    def peek(self):
        if len(self._items) == 0:
            raise StackError("peek at an empty stack")
        return self._items[-1]

    def pop_many(self, count):
        """Remove the top ``count`` values and return them in the order they were pushed."""
        if count > len(self._items):
            raise StackError(f"need {count} values, have {len(self._items)}")
        taken = []
        for _ in range(count):
            taken.append(self._items.pop())
        taken.reverse()
        return taken

    def items(self):
        return list(self._items)
'''

OPS = r'''"""The calculator's operators: name -> function."""

from rpn.errors import CalcError


def add(a, b):
    return a + b


def subtract(a, b):
    return a - b


def multiply(a, b):
    return a * b


def divide(a, b):
    """True division; a whole-number result is returned as an int."""
    if b == 0:
        raise CalcError("division by zero")
    result = a / b
    if result == int(result):
        return int(result)
    return result


def int_divide(a, b):
    if b == 0:
        raise CalcError("division by zero")
    return a // b


def modulo(a, b):
    if b == 0:
        raise CalcError("division by zero")
    return a % b


def power(a, b):
    if b < 0 and a == 0:
        raise CalcError("zero to a negative power")
    return a ** b


def negate(a):
    return -a


def square(a):
    return a * a


def clamp(value, low, high):
    """``value`` limited to the range ``low..high``."""
    if low > high:
        raise CalcError("empty clamp range")
    if value < low:
        return low
    if value > high:
        return high
    return value


def average(values):
    if not values:
        raise CalcError("average of no values")
    total = sum(values)
    return total / len(values)


BINARY = {"+": add, "-": subtract, "*": multiply, "/": divide, "//": int_divide, "%": modulo, "^": power,
          "max": max, "min": min}
UNARY = {"neg": negate, "abs": abs, "sq": square}
'''

CALC = r'''"""Parsing and evaluating expressions such as ``"3 4 + 2 *"``."""

from rpn import ops
from rpn.errors import CalcError
from rpn.stack import Stack

STACK_WORDS = ("dup", "swap", "drop", "sum", "avg", "clamp")


def parse_number(token):
    """An int or a float for a numeric token (``-3``, ``2.5``), else None."""
    text = token
    negative = text.startswith("-") and len(text) > 1
    if negative:
        text = text[1:]
    if text.isdigit():
        value = int(text)
    else:
        try:
            value = float(text)
        except ValueError:
            return None
    if negative:
        return -value
    return value


def tokenize(expression):
    """Split an expression into tokens; a token starting with '#' begins a comment."""
    tokens = []
    for word in expression.split():
        if word.startswith("#"):
            break
        tokens.append(word)
    return tokens


def apply_word(stack, word):
    """Run one stack word: dup, swap, drop, sum (n values), avg (n values), clamp (value low high)."""
    if word == "dup":
        stack.push(stack.peek())
    elif word == "swap":
        top = stack.pop()
        below = stack.pop()
        stack.push(top)
        stack.push(below)
    elif word == "drop":
        stack.pop()
    elif word == "sum":
        count = stack.pop()
        stack.push(sum(stack.pop_many(count)))
    elif word == "avg":
        count = stack.pop()
        stack.push(ops.average(stack.pop_many(count)))
    elif word == "clamp":
        value, low, high = stack.pop_many(3)
        stack.push(ops.clamp(value, low, high))


def evaluate(expression):
    """Evaluate an expression and return the single value it leaves on the stack."""
    stack = Stack()
    for token in tokenize(expression):
        number = parse_number(token)
        if number is not None:
            stack.push(number)
        elif token in ops.BINARY:
            a, b = stack.pop_many(2)
            stack.push(ops.BINARY[token](a, b))
        elif token in ops.UNARY:
            stack.push(ops.UNARY[token](stack.pop()))
        elif token in STACK_WORDS:
            apply_word(stack, token)
        else:
            raise CalcError(f"unknown token {token!r}")
    if len(stack) != 1:
        raise CalcError(f"the expression left {len(stack)} values on the stack")
    return stack.pop()
'''

REPOSITORY = Repository(
    name="rpn",
    summary="a stack-based (reverse Polish notation) calculator: `rpn.evaluate('3 4 + 2 *')` returns 14",
    files={"rpn/__init__.py": INIT, "rpn/errors.py": ERRORS, "rpn/stack.py": STACK, "rpn/ops.py": OPS,
           "rpn/calc.py": CALC},
    imports="from rpn import CalcError, Stack, StackError, evaluate, tokenize",
    visible=(
        Case("test_add", "evaluate('3 4 +')", 7),
        Case("test_subtract_order", "evaluate('10 4 -')", 6),
        Case("test_precedence_by_position", "evaluate('2 3 4 * +')", 14),
        Case("test_exact_division_is_int", "evaluate('8 2 /')", 4),
        Case("test_unknown_token", "evaluate('1 2 ?')", raises="CalcError"),
        Case("test_pop_empty_stack", "stack.pop()", raises="StackError", setup="stack = Stack()"),
    ),
    hidden=(
        Case("test_fractional_division", "evaluate('7 2 /')", 3.5),
        Case("test_integer_division", "evaluate('7 2 //')", 3),
        Case("test_negative_integer_division", "evaluate('-7 2 //')", -4),
        Case("test_modulo", "evaluate('7 3 %')", 1),
        Case("test_power", "evaluate('2 10 ^')", 1024),
        Case("test_power_order", "evaluate('3 2 ^')", 9),
        Case("test_zero_negative_power", "evaluate('0 -1 ^')", raises="CalcError"),
        Case("test_negative_power", "evaluate('2 -1 ^')", 0.5),
        Case("test_division_by_zero", "evaluate('1 0 /')", raises="CalcError"),
        Case("test_integer_division_by_zero", "evaluate('1 0 //')", raises="CalcError"),
        Case("test_modulo_by_zero", "evaluate('1 0 %')", raises="CalcError"),
        Case("test_negative_literal", "evaluate('-3 4 +')", 1),
        Case("test_minus_is_an_operator", "evaluate('5 3 -')", 2),
        Case("test_float_literal", "evaluate('1.5 2 *')", 3.0),
        Case("test_negative_float_literal", "evaluate('-0.5 4 *')", -2.0),
        Case("test_negate", "evaluate('5 neg')", -5),
        Case("test_square", "evaluate('-3 sq')", 9),
        Case("test_abs", "evaluate('-4 abs')", 4),
        Case("test_dup", "evaluate('3 dup *')", 9),
        Case("test_swap", "evaluate('1 2 swap -')", 1),
        Case("test_drop", "evaluate('1 2 drop')", 1),
        Case("test_sum", "evaluate('1 2 3 4 4 sum')", 10),
        Case("test_sum_part_of_stack", "evaluate('10 1 2 2 sum -')", 7),
        Case("test_average", "evaluate('2 4 9 3 avg')", 5.0),
        Case("test_average_of_nothing", "evaluate('0 avg')", raises="CalcError"),
        Case("test_clamp_low", "evaluate('-5 0 10 clamp')", 0),
        Case("test_clamp_high", "evaluate('50 0 10 clamp')", 10),
        Case("test_clamp_inside", "evaluate('5 0 10 clamp')", 5),
        Case("test_clamp_at_bounds", "[evaluate('0 0 10 clamp'), evaluate('10 0 10 clamp')]", [0, 10]),
        Case("test_clamp_empty_range", "evaluate('5 10 0 clamp')", raises="CalcError"),
        Case("test_values_left_over", "evaluate('1 2')", raises="CalcError"),
        Case("test_nothing_left", "evaluate('')", raises="CalcError"),
        Case("test_comment", "evaluate('1 2 + # and then 5')", 3),
        Case("test_max_min", "[evaluate('3 9 max'), evaluate('3 9 min')]", [9, 3]),
        Case("test_subtraction_chain", "evaluate('10 2 - 3 -')", 5),
        Case("test_long_expression", "evaluate('5 1 2 + 4 * + 3 -')", 14),
        Case("test_tokenize", "tokenize('1 2 +  # x y')", ["1", "2", "+"]),
        Case("test_pop_many_order", "stack.pop_many(2)", [2, 3], setup="stack = Stack([1, 2, 3])"),
        Case("test_pop_many_rest", "stack.items()", [1], setup="stack = Stack([1, 2, 3])\nstack.pop_many(2)"),
        Case("test_pop_many_all", "stack.pop_many(3)", [1, 2, 3], setup="stack = Stack([1, 2, 3])"),
        Case("test_pop_many_too_many", "Stack([1]).pop_many(2)", raises="StackError"),
        Case("test_peek_empty", "Stack().peek()", raises="StackError"),
        Case("test_peek_keeps_value", "[stack.peek(), len(stack)]", [2, 2], setup="stack = Stack([1, 2])"),
        Case("test_too_few_operands", "evaluate('1 +')", raises="StackError"),
    ),
)
