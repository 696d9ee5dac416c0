"""Files that must not be lost: atomic writes, staged folders, labels files.

A single file is written to a temp file beside it and renamed over the target; a folder
(a run, an export) is built in a staging folder beside it and published with one rename
(:func:`publish_dir`). A crash or Ctrl-C leaves the previous state, never half of it, and
the next command removes what a dead process left (:func:`clean_stale`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgecls.errors import EdgeclsError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it to ``path``, else delete it.

    >>> with atomic_path("out.bin") as tmp:      # doctest: +SKIP
    ...     tmp.write_bytes(b"...")
    """
    path = Path(path)
    if path.is_symlink() or path.is_dir():
        raise EdgeclsError(f"{path} is a {'link' if path.is_symlink() else 'folder'}: will not write over it")
    make_parents(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    except OSError as exc:
        raise EdgeclsError(f"cannot write {path}: {exc.strerror}") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.is_file():  # mkstemp makes 0600 files; give the result the usual permissions
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def open_stream(path: str | os.PathLike):
    """A text file at ``path`` for writing as a command goes (JSON lines): a new file, renamed into place
    before the first line, so whatever was at ``path`` (a hard link to a user's file) is replaced, never
    written through."""
    with atomic_path(path) as tmp:
        stream = open(tmp, "w", buffering=1, encoding="utf-8")
    return stream


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj) -> Path:
    """Strict JSON (no NaN or Infinity, which other parsers refuse)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike):
    """A JSON file edgecls wrote; a damaged or unreadable one is an EdgeclsError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgeclsError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def publish_dir(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put a finished ``staging`` folder in place of ``target`` with one rename.

    Where ``target`` exists the two are swapped atomically (so a reader sees the old folder
    or the new one, never neither) and the old one is then removed. A ``target`` that this
    process could not remove whole (a read-only folder inside it) is refused before the swap,
    and a removal that fails all the same swaps the old folder back: afterwards ``target`` is
    the old folder or the new one, never a mix. Both must be on the same file system:
    staging folders are always made beside their target.
    """
    staging, target = Path(staging), Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise EdgeclsError(f"{target} exists and is not a folder: choose another output path")
    if not target.exists():
        os.replace(staging, target)
        return target
    _check_removable(target)
    if _renameat2_exchange(staging, target):
        try:
            shutil.rmtree(staging)
        except OSError as exc:
            _renameat2_exchange(staging, target)
            raise EdgeclsError(f"cannot replace {target}: {exc.strerror}: {exc.filename} (left as it was)") from exc
        return target
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old)
    return target


def _check_removable(folder: Path) -> None:
    """Refuse a folder that this process could not empty: one of its folders is not writable."""
    for root, dirs, _ in os.walk(folder):
        if not os.access(root, os.W_OK | os.X_OK):
            raise EdgeclsError(f"cannot replace {folder}: {root} is not writable (left as it was)")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(path))


def _named_paths(params: dict[str, object]) -> list[tuple[str, str]]:
    """(name, path) for every path given; a list value (a repeatable option) gives one pair per path."""
    pairs = []
    for name, value in params.items():
        for path in value if isinstance(value, (list, tuple)) else [value]:
            if path is not None and str(path) != "-":
                pairs.append((name, str(path)))
    return pairs


def _inside(path: str, folder: str) -> bool:
    return path != folder and path.startswith(folder.rstrip(os.sep) + os.sep)


def check_io(reads: dict[str, object], writes: dict[str, object]) -> None:
    """Refuse, in one line, any output that would touch an input: the command's one guard.

    ``reads`` and ``writes`` map a parameter's name to a path (None, ``-`` and paths that do
    not exist are passed over). An output is refused when it is an input by any spelling
    (relative, ``..``, a link, a hard link), when it lies inside an input folder (edgecls
    never writes into what it reads), and when it is a folder that holds an input (a folder
    output is replaced whole).

    >>> check_io({"--source": "."}, {"--save": "./out.mp4"})
    Traceback (most recent call last):
    edgecls.errors.EdgeclsError: --save ./out.mp4 is inside the input folder --source .: edgecls never writes into what it reads; choose a path outside it
    """
    inputs = [(name, p) for name, p in _named_paths(reads) if os.path.exists(p)]
    outputs = _named_paths(writes)
    for i, (out_name, out) in enumerate(outputs):
        real = _real(out)
        twin = next((name for name, other in outputs[:i] if _real(other) == real), None)
        if twin:
            raise EdgeclsError(f"{out_name} {out} is also {twin}: give each output its own path")
        for in_name, path in inputs:
            where = f"{out_name} {out}"
            if real == _real(path) or (os.path.exists(out) and os.path.samefile(out, path)):
                raise EdgeclsError(f"{where} is the input {in_name} {path}: choose another path")
            if os.path.isdir(path) and _inside(real, _real(path)):
                raise EdgeclsError(f"{where} is inside the input folder {in_name} {path}: edgecls never writes into "
                                   "what it reads; choose a path outside it")
            if _inside(_real(path), real):
                raise EdgeclsError(f"{where} holds the input {in_name} {path}, and an output folder is replaced "
                                   "whole: choose another path")


def make_staging(target: str | os.PathLike) -> Path:
    """A fresh, empty staging folder beside ``target`` (``.NAME.staging-PID``); stale ones removed."""
    target = Path(target)
    clean_stale(target)
    made = make_parents(target.parent)
    path = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    _CREATED.setdefault(path, made)
    return path


def clean_stale(target: str | os.PathLike) -> list[Path]:
    """Remove staging and swap folders beside ``target`` left by a process that is gone."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    for path in target.parent.glob(f".{glob.escape(target.name)}.*-*"):
        kind, _, pid = path.name.rpartition("-")
        if kind.endswith((".staging", ".old")) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a folder of ours from before this call: stale by definition
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_CREATED: dict[Path, list[Path]] = {}


def make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; return the folders it created (outermost first), to remove on failure."""
    missing = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise EdgeclsError(f"cannot create folder {folder}: a file is in the way") from exc
    except OSError as exc:
        raise EdgeclsError(f"cannot create folder {folder}: {exc.strerror}") from exc
    return missing[::-1]


def discard_staging(staging: str | os.PathLike) -> None:
    """Remove a staging folder after a failure, and the empty parents made for it."""
    staging = Path(staging)
    shutil.rmtree(staging, ignore_errors=True)
    remove_empty(_CREATED.pop(staging, []))


def remove_empty(made: list[Path]) -> None:
    """Remove the folders :func:`make_parents` made (innermost first), as far as they are empty."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            break


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names from a labels.txt, one per line; refused when a name cannot round-trip."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeclsError(f"{path}: labels file is not UTF-8 text") from exc
    except OSError as exc:
        raise EdgeclsError(f"cannot read labels {path}: {exc.strerror}") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    check_class_names(names, str(path))
    return names


def labels_text(names: list[str]) -> str:
    """What :func:`read_labels` reads back as ``names``."""
    check_class_names(names, "labels")
    return "\n".join(names) + "\n"


def check_class_names(names: list[str], where: str) -> None:
    """Class names must survive a labels.txt round trip: non-empty, no control characters, unique."""
    from edgecls.errors import clean_text

    for name in names:
        if not name or name != name.strip() or clean_text(name) != name:
            raise EdgeclsError(f"{where}: class name {clean_text(name)!r} is empty, padded or has control "
                               "characters; rename it")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise EdgeclsError(f"{where}: class name {clean_text(dup)!r} appears twice")
