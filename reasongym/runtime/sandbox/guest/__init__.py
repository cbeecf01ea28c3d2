"""Code that runs inside the sandbox container (and, for the local backend, on the host).

These modules use the standard library only. The image holds this folder as ``/opt/sandbox/guest`` and
starts ``python3 -m guest.executor`` from ``/opt/sandbox``, so the same relative imports work in the
container and on the host (``reasongym.runtime.sandbox.guest``). The image label
``org.reasongym.sandbox.digest`` records a hash of these files (:func:`digest`), so a stale image is
detected instead of speaking an old protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent


def digest() -> str:
    """SHA-256 of the guest files, concatenated in name order (as ``build_offline.sh`` computes it)."""
    sha = hashlib.sha256()
    for path in sorted(GUEST_DIR.glob("*.py"), key=lambda p: p.name):
        sha.update(path.read_bytes())
    return sha.hexdigest()
