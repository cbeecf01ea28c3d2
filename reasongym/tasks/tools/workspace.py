"""A per-episode workspace of text files held in memory, with read/write/list tools.

Nothing touches the host file system. Paths are relative POSIX paths inside the workspace: absolute
paths, ``..`` components, backslashes and control characters are refused (so no call can name a file
outside it), and ``./a//b`` means ``a/b``. The number of files and their sizes are capped so that an
episode's memory stays bounded whatever the agent writes.
"""

from __future__ import annotations

from typing import Mapping

from reasongym.tasks.tools.tool import Tool, ToolError

MAX_PATH_CHARS = 200


def normalize_path(path: str) -> str:
    """The canonical form of a workspace path; :class:`ToolError` when it could leave the workspace."""
    if not path or len(path) > MAX_PATH_CHARS:
        raise ToolError(f"a path must have 1 to {MAX_PATH_CHARS} characters")
    if any(ord(c) < 32 or c == "\\" for c in path):
        raise ToolError(f"path {path!r} contains a backslash or a control character")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ToolError(f"path {path!r} is absolute; use a path relative to the workspace, e.g. 'notes.txt'")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolError(f"path {path!r} leaves the workspace ('..' is not allowed)")
    if not parts:
        raise ToolError(f"path {path!r} names no file")
    return "/".join(parts)


class Workspace:
    """The files of one episode (path -> text).

    Args:
        max_files: the most files the workspace may hold.
        max_file_chars: the longest file content accepted by a write.
    """

    def __init__(self, *, max_files: int = 64, max_file_chars: int = 100_000):
        self.max_files = max_files
        self.max_file_chars = max_file_chars
        self._files: dict[str, str] = {}

    def reset(self, files: Mapping[str, str] | None = None) -> None:
        """Start an episode with exactly ``files`` (nothing from earlier episodes remains)."""
        self._files = {normalize_path(path): text for path, text in (files or {}).items()}

    def snapshot(self) -> dict[str, str]:
        """A copy of every file."""
        return dict(self._files)

    def read_file(self, path: str) -> str:
        """Read a text file from the workspace.

        Args:
            path: the file's path relative to the workspace, e.g. "data.csv".
        """
        key = normalize_path(path)
        if key not in self._files:
            raise ToolError(f"no file {key!r}; files: {', '.join(sorted(self._files)) or 'none'}")
        return self._files[key]

    def write_file(self, path: str, content: str) -> str:
        """Create or overwrite a text file in the workspace.

        Args:
            path: the file's path relative to the workspace, e.g. "result.txt".
            content: the complete new content of the file.
        """
        key = normalize_path(path)
        if len(content) > self.max_file_chars:
            raise ToolError(f"content of {len(content):,} characters exceeds the limit of {self.max_file_chars:,}")
        if key not in self._files and len(self._files) >= self.max_files:
            raise ToolError(f"the workspace already holds {self.max_files} files")
        self._files[key] = content
        return f"Wrote {len(content)} characters to {key}."

    def list_files(self) -> str:
        """List the files in the workspace with their sizes in characters."""
        if not self._files:
            return "The workspace is empty."
        return "\n".join(f"{path} ({len(text)} characters)" for path, text in sorted(self._files.items()))

    def tools(self) -> list[Tool]:
        """``read_file``, ``write_file`` and ``list_files`` bound to this workspace."""
        return [Tool.from_function(self.read_file), Tool.from_function(self.write_file),
                Tool.from_function(self.list_files)]
