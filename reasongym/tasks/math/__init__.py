"""Math answer checking: final-answer extraction, normalisation and hack-resistant grading.

Importing this package is cheap (no torch, no sympy): math-verify is imported only inside the worker
processes that run the symbolic checks.
"""

from reasongym.tasks.math.extract import Extraction, extract_answer, last_boxed
from reasongym.tasks.math.grade import Grade, Verdict, equivalent, grade, grade_many, verifier_pool

__all__ = [
    "Extraction",
    "Grade",
    "Verdict",
    "equivalent",
    "extract_answer",
    "grade",
    "grade_many",
    "last_boxed",
    "verifier_pool",
]
