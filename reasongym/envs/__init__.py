"""Environments: the base contract, spaces, registration and one module per family."""

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import ChatObservation, TextAction, message_text, text_message

__all__ = ["ChatObservation", "Judgement", "ReasonEnv", "TextAction", "message_text", "text_message"]
