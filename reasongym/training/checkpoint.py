"""Checkpoints a run can resume from exactly: model (or LoRA adapters), optimiser, scheduler, trainer state.

Each checkpoint is a folder ``step_NNNNNNNN/`` written under a temporary name and renamed into place
only when complete, so a run killed while saving leaves the previous checkpoint intact and never a half
one. ``model/`` is a ``save_pretrained`` folder (a full model, or a peft adapter), so a checkpoint can be
evaluated directly with ``reasongym eval --policy hf:<ckpt>/model``. Further stateful parts of a run
(the critic of a GAE run) are saved beside it as ``<name>.pt``, one file per named part; a run without
them writes exactly the files it always did.

Resuming is exact because the trainer derives every random choice of step ``s`` (task indices, reset
seeds, sampling seeds) from ``(run seed, s)``: the trainer state only needs the step number, plus torch's
global RNG state for modules that draw from it (dropout).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch

PREFIX = "step_"


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"{PREFIX}{step:08d}"


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first (temporary folders are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and p.name[5:].isdigit())


def save_checkpoint(root: str | Path, step: int, *, model: Any, optimizer: torch.optim.Optimizer,
                    scheduler: Any, state: dict[str, Any], keep: int = 2, extra: Mapping[str, Any] | None = None
                    ) -> Path:
    """Write checkpoint ``step`` atomically and delete all but the newest ``keep`` checkpoints.

    ``extra`` maps names to objects with ``state_dict()``; each is saved as ``<name>.pt``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir(root, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save_pretrained(tmp / "model", safe_serialization=True)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
               tmp / "trainer.pt")
    for name, part in (extra or {}).items():
        torch.save(part.state_dict(), tmp / f"{name}.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2, default=str))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_trainer_state(path: str | Path, *, optimizer: torch.optim.Optimizer, scheduler: Any,
                       extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Restore optimiser, scheduler and RNG state from ``path``; return its ``state.json``.

    Model weights are loaded by the caller (full weights with ``from_pretrained``, adapters with peft).
    Each ``extra`` object gets ``load_state_dict`` of its ``<name>.pt``, which must exist.
    """
    path = Path(path)
    for name, part in (extra or {}).items():
        saved = path / f"{name}.pt"
        if not saved.is_file():
            raise FileNotFoundError(f"checkpoint {path} has no {saved.name}: it was written by a run without a "
                                    f"{name}; resume it with the same configuration, or start a new run")
        part.load_state_dict(torch.load(saved, map_location="cpu", weights_only=True))
    blob = torch.load(path / "trainer.pt", map_location="cpu", weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    return json.loads((path / "state.json").read_text())
