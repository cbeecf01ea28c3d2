"""``textkit``: a hand-written text tokenizer with word statistics, written for RepoFix."""

from __future__ import annotations

from reasongym.tasks.swe.repository import Case, Repository

INIT = r'''"""Tokenizing text and counting words."""

from textkit.normalize import capitalize_sentences, collapse_whitespace, content_words, is_stopword, truncate
from textkit.stats import longest, ngrams, top_k, type_token_ratio, word_counts
from textkit.tokenizer import char_kind, tokenize, words

__all__ = ["capitalize_sentences", "char_kind", "collapse_whitespace", "content_words", "is_stopword", "longest",
           "ngrams", "tokenize", "top_k", "truncate", "type_token_ratio", "word_counts", "words"]
'''

TOKENIZER = r'''"""A scanner that splits text into word, number and punctuation tokens."""


def char_kind(char):
    """The kind of token a character belongs to: word, number, space or punct."""
    if char.isalpha() or char == "_":
        return "word"
    if char.isdigit():
        return "number"
    if char.isspace():
        return "space"
    return "punct"


def tokenize(text):
    """Split text into ``(kind, text)`` tokens.

    Words are letters and underscores (digits may follow the first letter), numbers are digits with at
    most one decimal point followed by a digit, and every other visible character is a token of its own.
    Whitespace separates tokens and is dropped.
    """
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        kind = char_kind(text[i])
        if kind == "space":
            i += 1
            continue
        if kind == "punct":
            tokens.append(("punct", text[i]))
            i += 1
            continue
        j = i + 1
        seen_point = False
        while j < n:
            next_kind = char_kind(text[j])
            if kind == "number" and text[j] == "." and not seen_point and j + 1 < n and text[j + 1].isdigit():
                seen_point = True
            elif next_kind != kind and not (kind == "word" and next_kind == "number"):
                break
            j += 1
        tokens.append((kind, text[i:j]))
        i = j
    return tokens


def words(text):
    """The lower-cased word tokens of a text."""
    return [value.lower() for kind, value in tokenize(text) if kind == "word"]
'''

STATS = r'''"""Counting and ranking tokens."""


def word_counts(tokens):
    counts = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return counts


def top_k(counts, k):
    """The ``k`` most frequent ``(word, count)`` pairs; ties are broken alphabetically."""
    if k < 0:
        raise ValueError("k must not be negative")
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked[:k]


def ngrams(tokens, n):
    """The consecutive runs of ``n`` tokens, as tuples."""
    if n < 1:
        raise ValueError("n must be at least 1")
    grams = []
    for start in range(len(tokens) - n + 1):
        grams.append(tuple(tokens[start:start + n]))
    return grams


def type_token_ratio(tokens):
    """Distinct tokens divided by tokens (0.0 for no tokens)."""
    if not tokens:
        return 0.0
    distinct = len(set(tokens))
    return distinct / len(tokens)


def longest(tokens):
    """The first of the longest tokens ("" for none)."""
    best = ""
    for token in tokens:
        if len(token) > len(best):
            best = token
    return best
'''

NORMALIZE = r'''"""Normalizing text and filtering words."""

STOPWORDS = frozenset({"a", "an", "and", "the", "of", "to", "in", "is"})


def collapse_whitespace(text):
    """Runs of whitespace become one space; leading and trailing whitespace is removed."""
    parts = text.split()
    return " ".join(parts)


def is_stopword(word):
    return word.lower() in STOPWORDS


def content_words(tokens):
    """The tokens that are not stopwords, in order."""
    return [token for token in tokens if not is_stopword(token)]


def truncate(text, width, ellipsis="..."):
    """Cut text to at most ``width`` characters, ending with ``ellipsis`` when something was cut."""
    if width < len(ellipsis):
        raise ValueError("width is smaller than the ellipsis")
    if len(text) <= width:
        return text
    kept = width - len(ellipsis)
    return text[:kept] + ellipsis


def capitalize_sentences(text):
    """Upper-case the first letter of each sentence (sentences end with '.', '!' or '?')."""
    result = []
    start_of_sentence = True
    for char in text:
        if start_of_sentence and char.isalpha():
            result.append(char.upper())
            start_of_sentence = False
        else:
            result.append(char)
        if char in ".!?":
            start_of_sentence = True
    return "".join(result)
'''

REPOSITORY = Repository(
    name="textkit",
    summary="a hand-written text tokenizer (words, numbers, punctuation) with word statistics and normalization",
    files={"textkit/__init__.py": INIT, "textkit/tokenizer.py": TOKENIZER, "textkit/stats.py": STATS,
           "textkit/normalize.py": NORMALIZE},
    imports="from textkit import (capitalize_sentences, char_kind, collapse_whitespace, content_words, is_stopword,\n"
            "                     longest, ngrams, tokenize, top_k, truncate, type_token_ratio, word_counts, words)",
    visible=(
        Case("test_tokenize_words", "tokenize('hello world')", [("word", "hello"), ("word", "world")]),
        Case("test_tokenize_punctuation", "tokenize('hi!')", [("word", "hi"), ("punct", "!")]),
        Case("test_word_counts", "word_counts(['a', 'b', 'a'])", {"a": 2, "b": 1}),
        Case("test_collapse_whitespace", "collapse_whitespace('  a   b ')", "a b"),
        Case("test_truncate_short", "truncate('abc', 5)", "abc"),
        Case("test_ngrams_bad_n", "ngrams(['a'], 0)", raises="ValueError"),
    ),
    hidden=(
        Case("test_char_kinds", "[char_kind(c) for c in 'a_1 ,']", ["word", "word", "number", "space", "punct"]),
        Case("test_tokenize_numbers", "tokenize('x 3.14 42')",
             [("word", "x"), ("number", "3.14"), ("number", "42")]),
        Case("test_tokenize_trailing_point", "tokenize('7.')", [("number", "7"), ("punct", ".")]),
        Case("test_tokenize_two_points", "tokenize('1.2.3')", [("number", "1.2"), ("punct", "."), ("number", "3")]),
        Case("test_tokenize_word_with_digits", "tokenize('abc12 x')", [("word", "abc12"), ("word", "x")]),
        Case("test_tokenize_number_then_word", "tokenize('12abc')", [("number", "12"), ("word", "abc")]),
        Case("test_tokenize_adjacent_punctuation", "tokenize('(a),')",
             [("punct", "("), ("word", "a"), ("punct", ")"), ("punct", ",")]),
        Case("test_tokenize_single_char", "tokenize('x')", [("word", "x")]),
        Case("test_tokenize_empty", "tokenize('   ')", []),
        Case("test_tokenize_underscore", "tokenize('snake_case')", [("word", "snake_case")]),
        Case("test_words_lower", "words('The Cat, the HAT.')", ["the", "cat", "the", "hat"]),
        Case("test_word_counts_empty", "word_counts([])", {}),
        Case("test_word_counts_repeated", "word_counts(['x', 'y', 'x', 'x'])", {"x": 3, "y": 1}),
        Case("test_top_k", "top_k({'a': 3, 'b': 5, 'c': 3}, 2)", [("b", 5), ("a", 3)]),
        Case("test_top_k_ties_alphabetical", "top_k({'z': 1, 'y': 1, 'x': 2}, 3)", [("x", 2), ("y", 1), ("z", 1)]),
        Case("test_top_k_zero", "top_k({'a': 1}, 0)", []),
        Case("test_top_k_negative", "top_k({'a': 1}, -1)", raises="ValueError"),
        Case("test_ngrams_bigrams", "ngrams(['a', 'b', 'c'], 2)", [("a", "b"), ("b", "c")]),
        Case("test_ngrams_whole", "ngrams(['a', 'b', 'c'], 3)", [("a", "b", "c")]),
        Case("test_ngrams_too_long", "ngrams(['a', 'b'], 3)", []),
        Case("test_ngrams_unigrams", "ngrams(['a', 'b'], 1)", [("a",), ("b",)]),
        Case("test_type_token_ratio", "type_token_ratio(['a', 'b', 'a', 'a'])", 0.5),
        Case("test_type_token_ratio_empty", "type_token_ratio([])", 0.0),
        Case("test_longest", "longest(['ab', 'abcd', 'wxyz', 'a'])", "abcd"),
        Case("test_longest_empty", "longest([])", ""),
        Case("test_stopword_case", "[is_stopword('The'), is_stopword('cat')]", [True, False]),
        Case("test_content_words", "content_words(['the', 'cat', 'is', 'on', 'a', 'mat'])", ["cat", "on", "mat"]),
        Case("test_truncate_cut", "truncate('abcdefghij', 6)", "abc..."),
        Case("test_truncate_exact_width", "truncate('abcdef', 6)", "abcdef"),
        Case("test_truncate_custom_ellipsis", "truncate('abcdef', 4, '~')", "abc~"),
        Case("test_truncate_too_narrow", "truncate('abcdef', 2)", raises="ValueError"),
        Case("test_truncate_width_of_ellipsis", "truncate('abcdef', 3)", "..."),
        Case("test_capitalize_sentences", "capitalize_sentences('hi. how are you? fine!  ok')",
             "Hi. How are you? Fine!  Ok"),
        Case("test_capitalize_after_digits", "capitalize_sentences('3 apples. x')", "3 Apples. X"),
        Case("test_capitalize_keeps_rest", "capitalize_sentences('aBC')", "ABC"),
        Case("test_collapse_tabs_newlines", "collapse_whitespace('a\\t\\nb')", "a b"),
    ),
)
