"""reasongym: Gymnasium environments and an RL trainer for reasoning, agentic and multimodal policies.

``import reasongym`` registers every ``reason/*`` id, so ``gym.make("reason/AIME-v0")`` works after it.
"""

from reasongym.envs.registration import CATALOG, register_all

__version__ = "0.1.0"

register_all()

__all__ = ["CATALOG", "__version__"]
