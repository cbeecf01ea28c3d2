"""Returning freed heap memory to the system between micro-batches."""

from __future__ import annotations

import ctypes
import platform

import pytest

from reasongym.training import memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc")
def test_freed_heap_chunks_leave_the_resident_set():
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 KiB chunks stay under glibc's mmap threshold, so they come from the heap; the last one, kept,
    # pins the heap's top so that freeing the others cannot shrink the heap from its end
    chunks = [libc.malloc(64 * 1024) for _ in range(4000)]
    for chunk in chunks:
        ctypes.memset(chunk, 1, 64 * 1024)
    for chunk in chunks[:-1]:
        libc.free(chunk)
    resident = _rss_bytes()
    assert memory.release_free_memory()
    released = resident - _rss_bytes()
    libc.free(chunks[-1])
    assert released > 128 * 2**20, f"only {released / 2**20:.0f} MiB of ~250 MiB freed went back"


def test_without_malloc_trim_it_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release_free_memory() is False
