"""The toy family: tasks a randomly initialised model can learn in minutes, to check a training setup.

``reason/Echo-v0`` asks the agent to reply with exactly a given string (by default one digit). It is to
LLM RL what CartPole is to control: if a trainer cannot learn it, the trainer is broken. With
``reward_mode="partial"`` a ``similarity`` part gives dense credit — half for the share of characters
from the target's alphabet, half for the share of positions that match — so that even a policy that
starts out emitting random tokens gets a gradient. The ``outcome`` part is always exact match (1/0).
Turn budget: ``max_attempts`` steps (feedback after a wrong reply).
"""

from __future__ import annotations

import string

import numpy as np

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import text_message
from reasongym.tasks.base import ProceduralSource, TaskItem

ALPHABETS = {"digits": string.digits, "letters": string.ascii_lowercase, "alnum": string.digits + string.ascii_lowercase}
PROMPT = "Reply with exactly {target} and nothing else."


def similarity(response: str, target: str, alphabet: str) -> float:
    """Half the share of characters in ``alphabet``, half the share of positions matching ``target``.

    Both shares are over ``max(len(response), len(target))``, so extra characters dilute them and only
    the exact target scores 1.
    """
    width = max(len(response), len(target))
    in_alphabet = sum(c in alphabet for c in response) / width
    matched = sum(a == b for a, b in zip(response, target)) / width
    return 0.5 * in_alphabet + 0.5 * matched


class EchoEnv(ReasonEnv):
    """``reason/Echo-v0``: reply with exactly the target string.

    Args:
        length: characters in the target.
        alphabet: ``digits``, ``letters`` or ``alnum``.
        reward_mode: ``exact`` (outcome only) or ``partial`` (adds the ``similarity`` part).
        max_attempts: attempts per episode.
        num_items, task_seed: size and seed of the procedural item set.
    """

    family = "toy"
    reward_modes = ("exact", "partial")

    def __init__(self, *, length: int = 1, alphabet: str = "digits", reward_mode: str = "exact",
                 max_attempts: int = 1, num_items: int = 10_000, task_seed: int = 0, **kwargs):
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}")
        if alphabet not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)}, got {alphabet!r}")
        if reward_mode not in self.reward_modes:
            raise ValueError(f"unknown reward_mode {reward_mode!r}; choose one of {list(self.reward_modes)}")
        self.alphabet = ALPHABETS[alphabet]
        self.reward_mode = reward_mode
        chars = np.array(list(self.alphabet))

        def make(rng: np.random.Generator, index: int) -> TaskItem:
            target = "".join(rng.choice(chars, size=length))
            return TaskItem(id=f"echo-{alphabet}{length}-{index}", prompt=PROMPT.format(target=target), answer=target)

        source = ProceduralSource(make, num_items=num_items, seed=task_seed, salt=f"echo-{alphabet}-{length}",
                                  origin=f"procedural:echo {alphabet} x{length} (task_seed={task_seed})")
        super().__init__(source, max_turns=max_attempts, **kwargs)

    def _judge(self, action: str) -> Judgement:
        target = self.item.answer
        reply = action.strip()
        correct = reply == target
        last = correct or self.turn >= self.max_turns
        parts = {"outcome": 1.0 if correct and last else 0.0}
        if self.reward_mode == "partial":
            parts["similarity"] = similarity(reply, target, self.alphabet)
        feedback = "Correct." if correct else ("Incorrect. No attempts left." if last else
                                               f"Incorrect: reply with exactly {target}.")
        valid = bool(reply) and all(c in self.alphabet for c in reply)
        return Judgement(reward_parts=parts, terminated=last, feedback=[text_message("user", feedback)],
                         valid_action=valid, info={"pred": reply[:200], "gold": target, "correct": correct})

    def oracle_action(self) -> str:
        return self.item.answer
