"""What the reliability tests compare before and after a refused command: nothing may change."""

from __future__ import annotations

from pathlib import Path


def contents_below(directory: Path) -> dict[str, bytes]:
    """{path: bytes} of every regular file below `directory` (symbolic links not followed)."""
    return {str(p): p.read_bytes() for p in sorted(Path(directory).rglob("*")) if p.is_file() and not p.is_symlink()}


def stats_below(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """{path: (size, mtime_ns)} of every file below `root`, except below `skip`."""
    files = {}
    for path in Path(root).rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file():
            stat = path.stat()
            files[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return files
