"""Definitions and uses of every name in the 2012 source, found with Pygments' lexers.

A cross-reference in the manner of the Lions commentary: for each identifier the 2012
release defines (classes, structs, enums and their values, functions and methods,
macros, typedefs, global and member variables in the C++/CUDA files; classes,
functions, methods, module variables, class attributes and ``self.`` attributes in the
Python files), where it is defined and every line that mentions it.

The text is split into tokens by Pygments, the highlighter the docs already use, so
comments, strings and preprocessor lines are told apart by a maintained lexer, not by
patterns of our own. What this module adds is the small amount of C-family grammar
that a lexer leaves open (is this name followed by a parameter list and a body, is it
the last name of a declaration), read from the token stream with a brace-scope stack.

Nothing here is specific to Sphinx: :func:`build` takes ``{path: text}`` and returns
plain data, which ``docsgen_xref`` renders and the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Name, Operator, String, Token

C_SUFFIXES = (".cu", ".cuh", ".h", ".cpp", ".cutemp", ".c")
PY_SUFFIXES = (".py",)

#: names the lexers class as plain names but that are language, not the release's
_C_NOISE = {"std", "NULL", "true", "false", "this", "size_t", "string", "vector", "map",
            "pair", "set", "cout", "endl", "min", "max"}
_PY_NOISE = {"self", "cls", "None", "True", "False", "object"}


@dataclass(frozen=True)
class Site:
    """One line of one file (1-based)."""

    path: str
    line: int


@dataclass
class Definition:
    name: str
    kind: str  # "class", "function", "method", "macro", "variable", "member", ...
    site: Site
    scope: str = ""  # the class (or, for Class::method, the qualifier) it belongs to

    @property
    def label(self) -> str:
        return f"{self.scope}::{self.name}" if self.scope and self.kind != "class" else self.name


@dataclass
class Entry:
    """Everything the cross-reference says about one name."""

    name: str
    definitions: list[Definition] = field(default_factory=list)
    uses: list[Site] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({d.kind for d in self.definitions})


@dataclass(frozen=True)
class Tok:
    kind: object  # a pygments token type
    text: str
    line: int


def language(path: str) -> str | None:
    suffix = PurePosixPath(path).suffix
    if suffix in C_SUFFIXES:
        return "c"
    if suffix in PY_SUFFIXES:
        return "python"
    return None


def tokens(path: str, text: str) -> list[Tok]:
    """The lexer's tokens with their line numbers (whitespace dropped, newlines kept)."""
    lang = language(path)
    lexer = get_lexer_by_name("cuda" if lang == "c" else "python2", stripnl=False,
                              ensurenl=True)
    out: list[Tok] = []
    line = 1
    for kind, value in lexer.get_tokens(text):
        if value.strip():
            out.append(Tok(kind, value, line))
        elif "\n" in value and lang == "python":
            out.append(Tok(Token.Text, "\n", line))  # python: statements end at lines
        line += value.count("\n")
    return out


def _is_name(tok: Tok) -> bool:
    return tok.kind in Name and tok.kind not in Name.Builtin


def _significant(toks: list[Tok]) -> list[Tok]:
    """Code tokens: no comments or strings (preprocessor lines stay: they define macros)."""
    return [t for t in toks if (t.kind not in Comment or t.kind in Comment.Preproc)
            and t.kind not in String and t.text != "\n"]


# --------------------------------------------------------------------------------------
# C++ / CUDA


_TYPE_END = {"*", "&", ">"}
_DECL_KEYWORDS = {"virtual", "static", "inline", "extern", "const", "unsigned", "signed",
                  "__global__", "__device__", "__host__", "__forceinline__", "explicit",
                  "volatile", "register", "~"}


def _type_like(tok: Tok | None) -> bool:
    """Can ``tok`` end the type part of a declaration (``int``, ``Matrix``, ``*``, ``>``)?"""
    if tok is None:
        return False
    return (tok.kind in Keyword.Type or _is_name(tok) or tok.text in _TYPE_END
            or tok.text in _DECL_KEYWORDS)


def _statement_start(tok: Tok | None) -> bool:
    return tok is None or tok.text in {";", "{", "}", ":"} or tok.kind in Comment.Preproc


def _match(toks: list[Tok], i: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at ``i`` (or the last index)."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].text == open_:
            depth += 1
        elif toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def c_definitions(path: str, toks: list[Tok]) -> list[Definition]:
    sig = _significant(toks)
    out: list[Definition] = []
    scopes: list[tuple[str, str]] = [("file", "")]  # (kind, class name)
    pending: tuple[str, str] | None = None
    in_decl = False  # after "int a" until ";": later names after "," are declared too

    def add(name: str, kind: str, tok: Tok, scope: str = "") -> None:
        out.append(Definition(name, kind, Site(path, tok.line), scope))

    i = 0
    n = len(sig)
    while i < n:
        t = sig[i]
        prev = sig[i - 1] if i else None
        nxt = sig[i + 1] if i + 1 < n else None
        where, owner = scopes[-1]
        if t.kind in Comment.Preproc:
            words = t.text.split()
            if len(words) >= 2 and words[0] == "define":
                add(words[1].split("(")[0], "macro", t)
            i += 1
            continue
        if t.text == "{":
            scopes.append(pending or ("block" if where in {"function", "block"} else "scope",
                                      owner))
            pending, in_decl = None, False
            i += 1
            continue
        if t.text == "}":
            if len(scopes) > 1:
                scopes.pop()
            i += 1
            continue
        if t.text == ";":
            in_decl = False
            pending = None
            i += 1
            continue
        if where in {"function", "block"}:
            i += 1
            continue
        if where == "enum":
            if _is_name(t) and prev is not None and prev.text in {"{", ","}:
                add(t.text, "enumerator", t, owner)
            i += 1
            continue
        if t.text in {"class", "struct", "union", "enum"} and t.kind in Keyword:
            if nxt is not None and _is_name(nxt):
                after = sig[i + 2] if i + 2 < n else None
                if after is not None and after.text in {">", ",", ";", "=", "*", "&"}:
                    i += 2  # a template parameter, a forward declaration or a variable
                    continue
                kind = "class" if t.text == "class" else t.text
                add(nxt.text, kind, nxt, owner if where == "class" else "")
                pending = ("enum" if t.text == "enum" else "class", nxt.text)
                i += 2
                continue
            if t.text == "enum":
                pending = ("enum", owner)
            i += 1
            continue
        if t.text == "typedef" and t.kind in Keyword:
            end = i
            while end < n and sig[end].text != ";":
                end += 1
            body = sig[i + 1:end]
            target = None
            if any(b.text == "(" for b in body):  # typedef void (*name)(...);
                for k in range(len(body) - 1):
                    if body[k].text == "*" and _is_name(body[k + 1]):
                        target = body[k + 1]
                        break
            else:
                names = [b for b in body if _is_name(b)]
                target = names[-1] if names else None
            if target is not None:
                add(target.text, "typedef", target)
            i = end
            continue
        if _is_name(t) and t.text not in _C_NOISE:
            if nxt is not None and nxt.text == "(":
                qualified = prev is not None and prev.text == ":" and i >= 3 and \
                    sig[i - 2].text == ":"
                scope = sig[i - 3].text if qualified and _is_name(sig[i - 3]) else ""
                if qualified:
                    before = sig[i - 4] if i >= 4 else None
                    head_ok = _type_like(before) or _statement_start(before) or (
                        before is not None and before.text == "~")
                elif prev is not None and prev.text == "~":
                    head_ok = True
                else:
                    head_ok = _type_like(prev) or (where == "class" and _statement_start(prev))
                close = _match(sig, i + 1, "(", ")")
                k = close + 1
                while k < n and sig[k].text in {"const", "volatile"}:
                    k += 1
                follow = sig[k].text if k < n else ";"
                if head_ok and not in_decl and follow in {"{", ":", ";", "="}:
                    if follow in {"{", ":"}:
                        kind = "method" if (scope or where == "class") else "function"
                        add(t.text, kind, t, scope or (owner if where == "class" else ""))
                        if follow == ":":  # a constructor's initialiser list: skip to the body
                            while k < n and sig[k].text != "{":
                                k += 1
                        pending = ("function", owner)
                        i = k
                        continue
                    kind = "method declaration" if where == "class" else "declaration"
                    add(t.text, kind, t, owner if where == "class" else scope)
                i = close + 1
                continue
            if nxt is not None and nxt.text in {";", "=", "[", ","} and (
                    (_type_like(prev) and not _statement_start(prev) and prev.text != ",")
                    or (in_decl and prev is not None and prev.text in {",", "*", "&"})):
                kind = "member" if where == "class" else "variable"
                add(t.text, kind, t, owner if where == "class" else "")
                in_decl = True
                if nxt.text == "=":  # skip the initialiser
                    k = i + 2
                    depth = 0
                    while k < n and not (depth == 0 and sig[k].text in {",", ";"}):
                        depth += sig[k].text in {"(", "{", "["}
                        depth -= sig[k].text in {")", "}", "]"}
                        k += 1
                    i = k
                    continue
        i += 1
    return out


# --------------------------------------------------------------------------------------
# Python


def py_definitions(path: str, toks: list[Tok], text: str) -> list[Definition]:
    out: list[Definition] = []
    lines = text.split("\n")

    def indent(line: int) -> int:
        raw = lines[line - 1] if 0 < line <= len(lines) else ""
        return len(raw) - len(raw.lstrip())

    blocks: list[tuple[int, str, str]] = []  # (indent, "class"/"def", name)

    def enclosing(line: int) -> list[tuple[int, str, str]]:
        ind = indent(line)
        while blocks and blocks[-1][0] >= ind:
            blocks.pop()
        return blocks

    sig = [t for t in toks if t.kind not in Comment]
    line_start = True
    for i, t in enumerate(sig):
        if t.text == "\n":
            line_start = True
            continue
        starts = line_start
        line_start = False
        if t.kind in Name.Class or t.kind in Name.Function:
            stack = enclosing(t.line)
            owner = next((b[2] for b in reversed(stack) if b[1] == "class"), "")
            outer = next((b[2] for b in reversed(stack) if b[1] == "def"), "")
            if t.kind in Name.Class:
                out.append(Definition(t.text, "class", Site(path, t.line), owner))
            elif stack and stack[-1][1] == "class":
                out.append(Definition(t.text, "method", Site(path, t.line), owner))
            elif outer:
                # a helper defined inside a function is still a name the code defines
                out.append(Definition(t.text, "local function", Site(path, t.line), outer))
            else:
                out.append(Definition(t.text, "function", Site(path, t.line)))
            blocks.append((indent(t.line), "class" if t.kind in Name.Class else "def",
                           t.text))
            continue
        nxt = sig[i + 1] if i + 1 < len(sig) else None
        if starts and _is_name(t) and t.text not in _PY_NOISE and nxt is not None \
                and nxt.kind in Operator and nxt.text == "=":
            stack = enclosing(t.line)
            if not stack:
                out.append(Definition(t.text, "variable", Site(path, t.line)))
            elif stack[-1][1] == "class":
                out.append(Definition(t.text, "class attribute", Site(path, t.line),
                                      stack[-1][2]))
            continue
        if (t.text == "self" and nxt is not None and nxt.text == "." and i + 3 < len(sig)
                and _is_name(sig[i + 2]) and sig[i + 3].kind in Operator
                and sig[i + 3].text == "="):
            stack = enclosing(t.line)
            owner = next((b[2] for b in reversed(stack) if b[1] == "class"), "")
            out.append(Definition(sig[i + 2].text, "attribute", Site(path, t.line), owner))
    return out


# --------------------------------------------------------------------------------------
# The whole release


def definitions(path: str, text: str) -> tuple[list[Definition], list[Tok]]:
    toks = tokens(path, text)
    if language(path) == "c":
        return c_definitions(path, toks), toks
    return py_definitions(path, toks, text), toks


def _dedupe_sites(sites: Iterable[Site]) -> list[Site]:
    return sorted(set(sites), key=lambda s: (s.path, s.line))


def build(files: dict[str, str]) -> dict[str, Entry]:
    """Every defined name of ``files`` ({path: text}), with its definitions and uses.

    A use is any line of a file in the same language (C-family or Python) where the
    lexer sees the name as a name, not inside a comment or a string. One name defined
    in both languages (``ConvNet``) gets one entry with both definitions.
    """
    per_lang: dict[str, dict[str, Entry]] = {"c": {}, "python": {}}
    external: dict[str, list[Site]] = {}
    toks_of: dict[str, list[Tok]] = {}
    for path in sorted(files):
        lang = language(path)
        if lang is None:
            continue
        defs, toks = definitions(path, files[path])
        toks_of[path] = toks
        table = per_lang[lang]
        for d in defs:
            table.setdefault(d.name, Entry(d.name)).definitions.append(d)
        if lang == "c":
            for name, site in c_calls(path, toks):
                external.setdefault(name, []).append(site)
    for name, sites in external.items():
        if name not in per_lang["c"] and name not in _C_NOISE:
            # called in the release, defined in a library it does not contain (NVMatrix,
            # the CUDA runtime, Python's C API...): listed so that the name can be found
            per_lang["c"][name] = Entry(name, [Definition(name, "external", sites[0])])
    for path, toks in toks_of.items():
        table = per_lang[language(path) or ""]
        for t in toks:
            if _is_name(t) and t.text in table:
                table[t.text].uses.append(Site(path, t.line))
    merged: dict[str, Entry] = {}
    for table in per_lang.values():
        for name, entry in table.items():
            into = merged.setdefault(name, Entry(name))
            into.definitions.extend(entry.definitions)
            into.uses.extend(entry.uses)
    for entry in merged.values():
        defined_at = {d.site for d in entry.definitions if d.kind != "external"}
        entry.uses = [s for s in _dedupe_sites(entry.uses) if s not in defined_at]
        entry.definitions.sort(key=lambda d: (d.site.path, d.site.line))
    return dict(sorted(merged.items(), key=lambda kv: (kv[0].lower(), kv[0])))


def c_calls(path: str, toks: list[Tok]) -> Iterator[tuple[str, Site]]:
    """Names called as functions or methods (``name(``, ``x.name(``, ``p->name(``)."""
    sig = _significant(toks)
    for i in range(1, len(sig) - 1):
        t, prev = sig[i], sig[i - 1]
        if not _is_name(t) or sig[i + 1].text != "(":
            continue
        if prev.text in {".", "->"} or not (_is_name(prev) or prev.kind in Keyword.Type):
            # (``Type name(args)`` is a local object being constructed, not a call)
            yield t.text, Site(path, t.line)


def names_by_initial(entries: dict[str, Entry]) -> Iterator[tuple[str, list[Entry]]]:
    """Groups for the pages: ``A``..``Z``, then ``_`` (names with a leading underscore)."""
    groups: dict[str, list[Entry]] = {}
    for name, entry in entries.items():
        first = name.lstrip("_")[:1].upper()
        key = "_" if name.startswith("_") else (first if first.isalpha() else "other")
        groups.setdefault(key, []).append(entry)
    order = sorted(k for k in groups if len(k) == 1 and k.isalpha())
    order += [k for k in ("_", "other") if k in groups]
    for key in order:
        yield key, groups[key]
