"""Reading a search-space (or nightly) file: bounded in size, depth and aliases, refused in one line.

A search space is a few kilobytes, about five levels deep, and rarely uses an alias at all; anything far beyond
that is refused before anything is built from it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import yaml

from trainables.searchspace.messages import EXCERPT_CHARS, SearchSpaceError

MAX_FILE_BYTES = 256 << 10  # 256 KiB: PyYAML reads about 100 KiB a second, the largest shipped file is 3 KiB
MAX_YAML_DEPTH = 32  # nested mappings and lists
MAX_ALIAS_VALUES = 10_000  # values YAML aliases may add to what the file spells out


_SWEEP_SETTINGS = "a mapping of sweep settings (name, method, data, ...)"


def _not_a_regular_file(mode: int) -> str | None:
    """What a path is when it is no regular file (what ``os.stat`` read: links followed), else None."""
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def _cannot_open(path: Path, error: OSError, kind: str) -> str:
    if error.errno == errno.ELOOP:
        return f"is a symlink loop (following its links leads back to one of them); expected a {kind} YAML file"
    if error.errno == errno.ENOENT and os.path.islink(path):
        return f"is a dangling symlink (its target does not exist); expected a {kind} YAML file"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"no such {kind} file"
    return f"cannot be read ({error.strerror or error}); expected a readable {kind} YAML file"


def read_searchspace_text(path: Path, kind: str = "search-space", contents: str = _SWEEP_SETTINGS) -> str:
    """The file's text, or ``SearchSpaceError`` (one line) for a path that is missing, a symlink loop, no
    regular file (a directory, a FIFO that would block the read, a device such as /dev/zero that never ends, a
    socket), larger than ``MAX_FILE_BYTES``, unreadable, not UTF-8 text (e.g. Latin-1 bytes, a binary file,
    UTF-16) or empty. ``kind`` names the file in messages (search-space, nightly), ``contents`` what it holds."""
    path = Path(path)
    try:
        what = _not_a_regular_file(os.stat(path).st_mode)
        if what is None:  # opened without blocking and checked again: the path may have changed since
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
            with open(descriptor, "rb") as handle:
                what = _not_a_regular_file(os.fstat(handle.fileno()).st_mode)
                # At most one byte over the bound, so a huge file (or one growing as it is read) costs nothing.
                data = b"" if what else handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SearchSpaceError(f"{path}: {_cannot_open(path, error, kind)}") from None
    if what:
        raise SearchSpaceError(f"{path}: is {what}; expected a {kind} YAML file")
    if len(data) > MAX_FILE_BYTES:
        raise SearchSpaceError(
            f"{path}: larger than {MAX_FILE_BYTES >> 10} KiB; expected a {kind} YAML file (a few kilobytes)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SearchSpaceError(
            f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line} cannot be "
            f"decoded); expected a UTF-8 YAML file (re-save it as UTF-8)"
        ) from None
    if "\x00" in text:  # valid UTF-8, but no text file holds NUL bytes (UTF-16 and binary files do)
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SearchSpaceError(
            f"{path}: not UTF-8 text (a NUL byte at line {line}: a binary or UTF-16 file?); "
            f"expected a UTF-8 YAML file (re-save it as UTF-8)"
        )
    if not text.strip():
        raise SearchSpaceError(f"{path}: the file is empty; expected {contents}")
    return text


def _duplicate_key(node, where: str = "", seen: set | None = None) -> tuple[str, int, int] | None:
    """The first key given twice in one YAML mapping, as (dotted key, its line, the first one's line), or None.
    PyYAML keeps the last value of a repeated key without a word, so a second ``search:`` block would
    silently replace the first."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked
        return None
    seen.add(id(node))
    children = []
    if isinstance(node, yaml.MappingNode):
        first_lines = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            dotted = f"{where}.{name}" if where else str(name)
            if name is not None and name != "<<":
                if (key.tag, name) in first_lines:
                    return dotted, key.start_mark.line + 1, first_lines[key.tag, name]
                first_lines[key.tag, name] = key.start_mark.line + 1
            children.append((value, dotted))
    elif isinstance(node, yaml.SequenceNode):
        children = [(item, f"{where}[{index}]") for index, item in enumerate(node.value)]
    for child, dotted in children:
        found = _duplicate_key(child, dotted, seen)
        if found:
            return found
    return None


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__(f"nested deeper than {MAX_YAML_DEPTH} levels")
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document nested deeper than ``MAX_YAML_DEPTH`` while it composes it:
    the composer recurses, so 5,000 nested lists would end in RecursionError."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_YAML_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_KEY_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:bool": "a boolean (YAML reads yes, no, on, off, true and false as booleans)",
}
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


def _key_problem(key: yaml.Node, where: str) -> str:
    where, line = where or "top level", key.start_mark.line + 1
    if not isinstance(key, yaml.ScalarNode):
        return (
            f"{where}: a key (line {line}) is {'a list' if isinstance(key, yaml.SequenceNode) else 'a mapping'}; "
            f"expected a name"
        )
    text = key.value if len(key.value) <= EXCERPT_CHARS else key.value[: EXCERPT_CHARS - 3] + "..."
    return (
        f"{where}: key {text or '(empty)'} (line {line}) is {_KEY_KINDS.get(key.tag, f'tagged {key.tag}')}; "
        f"expected a name (quote it if it is one: '{text}')"
    )


def _node_problem(root: yaml.Node) -> str | None:
    """The first thing in a composed YAML document that no search space holds, as one line, or None: a key that
    is not a string (``1:``, ``~:``, ``yes:``, a list), an alias inside the node it names, or aliases that
    expand the document by more than ``MAX_ALIAS_VALUES`` values (a few hundred bytes of nested aliases can
    stand for billions of values). Walked without recursion, each node once; aliases are shared nodes."""
    expanded: dict[int, int] = {}  # node id -> values it stands for, aliases expanded
    ancestors: set[int] = set()
    written = 0
    stack: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    while stack:
        node, where, finished = stack.pop()
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if finished:
            ancestors.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
            continue
        if id(node) in expanded:
            continue
        if id(node) in ancestors:
            return (
                f"{where or 'top level'} (line {node.start_mark.line + 1}): an alias of a node that holds it "
                f"(it would never end); expected plain values"
            )
        ancestors.add(id(node))
        written += 1
        stack.append((node, where, True))
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if not isinstance(key, yaml.ScalarNode) or key.tag not in (_STR_TAG, _MERGE_TAG):
                    return _key_problem(key, where)
                stack += [(value, f"{where}.{key.value}" if where else key.value, False), (key, where, False)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, f"{where}[{index}]", False) for index, item in reversed(list(enumerate(node.value)))]
    if expanded[id(root)] - written > MAX_ALIAS_VALUES:
        return (
            f"aliases (*name) expand the {written:,} values written to {expanded[id(root)]:,}; expected "
            f"aliases to add at most {MAX_ALIAS_VALUES:,} values (a search space repeats a few)"
        )
    return None


def parse_yaml(path: Path, text: str):
    """The YAML document ``text`` (of the file ``path``) as Python values, or ``SearchSpaceError`` in one line:
    malformed YAML, a key given twice or that is no string, nesting deeper than ``MAX_YAML_DEPTH``, aliases
    that expand without bound. Checked on the composed node graph, before any Python value is built."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        problem = node is not None and _node_problem(node)
        if problem:
            raise SearchSpaceError(f"{path}: {problem}")
        duplicate = node is not None and _duplicate_key(node)
        if duplicate:
            key, line, first = duplicate
            raise SearchSpaceError(
                f"{path}: {key}: given twice (line {first} and line {line}); expected each key "
                f"once (YAML would keep only the last)"
            )
        return None if node is None else loader.construct_document(node)
    except _TooDeep as error:
        raise SearchSpaceError(
            f"{path}: line {error.mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels of "
            f"mappings and lists; expected a few (a search space uses about 5)"
        ) from None
    except RecursionError:  # a guard: the depth bound keeps PyYAML well inside Python's recursion limit
        raise SearchSpaceError(
            f"{path}: nested too deeply to be read; expected a few levels of mappings and lists"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SearchSpaceError(f"{path}: malformed YAML{where}: {problem}") from None
    finally:
        loader.dispose()
