"""The RL trainer of reasongym.

The modules of this package are imported explicitly (``from reasongym.training.advantages import
grpo_advantages``); importing the package itself pulls in nothing heavy (no torch), so that
``import reasongym`` stays cheap for users who only want the environments.

Modules:

* :mod:`reasongym.training.advantages` -- advantage estimators as pure functions on ``[B, T]`` token
  tensors: GRPO (std-normalised and Dr.GRPO), RLOO, REINFORCE++ (and its group-baseline variant), GAE
  with environment tokens transparent to the value chain, per-turn GRPO and PSR/NSR sign weighting.
* :mod:`reasongym.training.losses` -- KL estimators (k1/abs/k2/k3), loss aggregation normalised by
  global token/sequence counts (micro-batch invariant), the PPO clipped policy loss with separate
  low/high and dual clip, the clipped value loss, entropy, and memory-bounded chunked log-probs.

Other modules of the package (configuration, checkpoints, metrics, the training loop) sit beside
these and are imported the same way.

Conventions shared by every function: token-level tensors are ``[B, T]`` (B sequences, T positions);
``response_mask`` is a float ``[B, T]`` tensor, 1 for policy tokens that get a loss and 0 for prompt,
environment-message and padding tokens; group ids are a list/array of B hashables or an int tensor.
The semantics follow verl's (``../shared/golden/rl_semantics.json`` holds reference vectors).
"""
