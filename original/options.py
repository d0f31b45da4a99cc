"""Command-line options the 2011/2012 way: ``-f DIR`` and ``--name=value``, 0/1 booleans.

Re-creates the option machinery the 2012 driver imported from the public release
(cc2011 ``options.py`` L34-L417: Option, OptionsParser, the value parsers and
OptionExpression). Its objects are pickled into every checkpoint as ``op`` (cc2011
``gpumodel.py`` L256-L257) and merged with a new command line on resume (L311-L331),
so the classes here are part of the checkpoint format; :mod:`alexnet.original.pickling`
allows exactly the names in :data:`PICKLABLE`, also under the old module name
``options`` so that a genuine 2012 checkpoint's ``op`` can be read.

Behaviour kept: every option without a default is mandatory unless another given
option excuses it (``-f`` excuses all); ``requires`` lists options that must come
along; ``set_once`` options (``--layer-def``, ``--crop-border``) cannot change on
resume; options given on the new command line replace the saved ones.

One deliberate difference: 2012's OptionExpression ran ``eval`` on its text (for the
default ``[-1] * num_gpus`` of ``--gpu``). A checkpoint carries such expressions, and a
checkpoint must never run code, so :class:`OptionExpression` here evaluates only
literals, option names, lists and + - * on them.
"""

from __future__ import annotations

import ast
import getopt
import operator
import re
from typing import Any

from alexnet.errors import AlexNetError
from alexnet.limits import MAX_DIMENSION, MAX_EXPRESSION_CHARS

PICKLABLE = (
    "Option", "OptionsParser", "OptionParser", "IntegerOptionParser", "BooleanOptionParser",
    "StringOptionParser", "FloatOptionParser", "RangeOptionParser", "ListOptionParser",
    "OptionExpression",
)


class OptionException(AlexNetError):
    """A bad or missing command-line option (one line, exit status 2)."""


class OptionMissingException(OptionException):
    pass


# --------------------------------------------------------------------------------------
# Value parsers (used as classes, as 2011 did, except ListOptionParser instances)


class OptionParser:
    @staticmethod
    def parse(value: str) -> Any:
        return value

    @staticmethod
    def to_string(value: Any) -> str:
        return str(value)

    @staticmethod
    def get_type_str() -> str:
        return "string"

    @staticmethod
    def is_type(value: Any) -> bool:
        return True


class IntegerOptionParser(OptionParser):
    @staticmethod
    def parse(value: str) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise OptionException("argument is not an integer") from None

    @staticmethod
    def get_type_str() -> str:
        return "int"

    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


class BooleanOptionParser(OptionParser):
    """Booleans are the integers 0 and 1, nothing else (cc2011 options.py L280-L290)."""

    @staticmethod
    def parse(value: str) -> int:
        try:
            v = int(value)
        except (TypeError, ValueError):
            v = -1
        if v not in (0, 1):
            raise OptionException("argument is not a boolean (give 0 or 1)")
        return v

    @staticmethod
    def get_type_str() -> str:
        return "0/1"

    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, int) and value in (0, 1)


class StringOptionParser(OptionParser):
    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, str)


class FloatOptionParser(OptionParser):
    @staticmethod
    def parse(value: str) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise OptionException("argument is not a float") from None

    @staticmethod
    def to_string(value: Any) -> str:
        return f"{value:.6g}"

    @staticmethod
    def get_type_str() -> str:
        return "float"

    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, float)


class RangeOptionParser(OptionParser):
    """``a-b`` (inclusive) or a single ``n``; the value is the list of batch numbers."""

    @staticmethod
    def parse(value: str) -> list[int]:
        m = re.match(r"^(\d+)-(\d+)$", value.strip())
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise OptionException(f"range {value!r} is empty")
            return list(range(lo, hi + 1))
        try:
            return [int(value)]
        except ValueError:
            raise OptionException("argument is neither an integer nor a range a-b") from None

    @staticmethod
    def to_string(value: Any) -> str:
        if not value:
            return ""  # an unset range (shownet's --data-path default) shows as nothing
        return f"{value[0]}-{value[-1]}" if len(value) > 1 else str(value[0])

    @staticmethod
    def get_type_str() -> str:
        return "int[-int]"

    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, list)


class ListOptionParser(OptionParser):
    """A separated list; ``parsers`` is one parser class for every item, or a list of
    them for a fixed-length list."""

    def __init__(self, parsers: Any, sepchar: str = ","):
        self.parsers = parsers
        self.sepchar = sepchar

    def parse(self, value: str) -> list[Any]:  # type: ignore[override]
        values = value.split(self.sepchar) if value != "" else []
        if isinstance(self.parsers, list):
            if len(values) != len(self.parsers):
                raise OptionException(f"requires {len(self.parsers)} values, given {len(values)}")
            return [p.parse(v) for p, v in zip(self.parsers, values, strict=True)]
        return [self.parsers.parse(v) for v in values]

    def to_string(self, value: Any) -> str:  # type: ignore[override]
        if isinstance(self.parsers, list):
            return self.sepchar.join(p.to_string(v) for p, v in zip(self.parsers, value,
                                                                     strict=True))
        return self.sepchar.join(self.parsers.to_string(v) for v in value)

    def get_type_str(self) -> str:  # type: ignore[override]
        if isinstance(self.parsers, list):
            return self.sepchar.join(p.get_type_str() for p in self.parsers)
        return f"{self.parsers.get_type_str()}{self.sepchar}..."

    @staticmethod
    def is_type(value: Any) -> bool:
        return isinstance(value, list)


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


class OptionExpression:
    """A default computed from other options, e.g. ``[-1] * num_gpus``; no eval."""

    def __init__(self, expr: str):
        self.expr = expr

    def evaluate(self, env: dict[str, Any]) -> Any:
        """The expression's value; refused when it is longer than
        :data:`~alexnet.limits.MAX_EXPRESSION_CHARS`, or when a value it builds (a list or
        string repeated, an integer) would pass :data:`~alexnet.limits.MAX_DIMENSION`
        elements or 2**63: a checkpoint's saved expression is outside data."""
        if not isinstance(self.expr, str) or len(self.expr) > MAX_EXPRESSION_CHARS:
            n = len(self.expr) if isinstance(self.expr, str) else type(self.expr).__name__
            raise OptionException(f"option expression of {n} characters refused (the bound "
                                  f"is {MAX_EXPRESSION_CHARS})")
        try:
            tree = ast.parse(self.expr, mode="eval")
            return self._eval(tree.body, env)
        except (SyntaxError, KeyError, TypeError, ValueError, RecursionError,
                MemoryError) as exc:
            raise OptionException(f"expression {self.expr[:80]!r}: cannot evaluate "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from None

    @staticmethod
    def _bounded(value: Any) -> Any:
        if isinstance(value, list | str) and len(value) > MAX_DIMENSION:
            raise ValueError(f"builds a value of {len(value):,} elements (the bound is "
                             f"{MAX_DIMENSION:,})")
        if isinstance(value, int) and abs(value) >= 2**63:
            raise ValueError("builds an integer beyond 2**63")
        return value

    def _eval(self, node: ast.AST, env: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.List):
            return self._bounded([self._eval(e, env) for e in node.elts])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._eval(node.operand, env)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(node.op, ast.Mult):  # check the size before building it
                seq, times = ((left, right) if isinstance(left, list | str)
                              else (right, left))
                if isinstance(seq, list | str) and isinstance(times, int):
                    if len(seq) * max(times, 0) > MAX_DIMENSION:
                        raise ValueError(f"builds a value of {len(seq) * times:,} elements "
                                         f"(the bound is {MAX_DIMENSION:,})")
                elif isinstance(left, int) and isinstance(right, int) and (
                        left.bit_length() + right.bit_length() > 64):
                    raise ValueError("builds an integer beyond 2**63")
            return self._bounded(_BINOPS[type(node.op)](left, right))
        raise ValueError(f"unsupported element {type(node).__name__}")


# --------------------------------------------------------------------------------------
# Options and the parser


class Option:
    def __init__(self, letter: str, name: str, desc: str, parser: Any, set_once: bool,
                 default: Any, excuses: Any, requires: list[str], save: bool):
        # attribute names are part of the checkpoint format (a pickled Option's state)
        vars(self).update(letter=letter, name=name, desc=desc, parser=parser,
                          set_once=set_once, default=default, excuses=excuses,
                          requires=requires, save=save, value=None, value_given=False,
                          prefixed_letter=("-" if len(letter) == 1 else "--") + letter)

    def set_value(self, value: Any, parse: bool = True) -> None:
        try:
            self.value = self.parser.parse(value) if parse else value
        except OptionException as exc:
            raise OptionException(f"option {self.prefixed_letter} ({self.desc}): {exc}") from None
        self.value_given = True

    def set_default(self) -> None:
        if self.default is not None:
            self.value = self.default

    def eval_expr_default(self, env: dict[str, Any]) -> None:
        if isinstance(self.default, OptionExpression) and not self.value_given:
            self.value = self.default.evaluate(env)

    def get_str_value(self, get_default_str: bool = False) -> str:
        shown = self.default if get_default_str else self.value
        if isinstance(shown, OptionExpression):
            return shown.expr
        return "" if shown is None else self.parser.to_string(shown)


class OptionsParser:
    """All options of a program; every option without a default is mandatory unless
    excused (by ``-f``, which excuses all)."""

    EXCLUDE_ALL = "all"

    def __init__(self) -> None:
        self.options: dict[str, Option] = {}

    def add_option(self, letter: str, name: str, parser: Any, desc: str, set_once: bool = False,
                   default: Any = None, excuses: Any = (), requires: Any = (),
                   save: bool = True) -> None:
        if name in self.options:
            raise ValueError(f"option {name} defined twice")
        excuses = excuses if excuses == self.EXCLUDE_ALL else list(excuses)
        self.options[name] = Option(letter, name, desc, parser, set_once, default, excuses,
                                    list(requires), save)

    def set_value(self, name: str, value: Any, parse: bool = True) -> None:
        self.options[name].set_value(value, parse=parse)

    def get_value(self, name: str) -> Any:
        return self.options[name].value

    def delete_option(self, name: str) -> None:
        self.options.pop(name, None)

    def parse(self, argv: list[str], eval_expr_defaults: bool = False) -> dict[str, Option]:
        """Parse ``argv`` (without the program name)."""
        shorts = "".join(f"{o.letter}:" for o in self.options.values() if len(o.letter) == 1)
        longs = [f"{o.letter}=" for o in self.options.values() if len(o.letter) > 1]
        try:
            given, rest = getopt.getopt(argv, shorts, longs)
        except getopt.GetoptError as exc:
            raise OptionException(f"{exc} (options take values: -f DIR, --name=value)") from None
        if rest:
            raise OptionException(f"unexpected argument {rest[0]!r} (options look like "
                                  "--name=value)")
        dic = dict(given)
        missing = []
        for o in sorted(self.options.values(), key=lambda o: isinstance(o.default,
                                                                        OptionExpression)):
            if o.prefixed_letter in dic:
                o.set_value(dic[o.prefixed_letter])
            else:
                excused = any(
                    o2.prefixed_letter in dic
                    and (o2.excuses == self.EXCLUDE_ALL or o.name in o2.excuses)
                    for o2 in self.options.values()
                )
                if not excused and o.default is None:
                    missing.append(o)
                o.set_default()
            if o.prefixed_letter in dic:
                for o2 in self.options.values():
                    if o2.name in o.requires and o2.prefixed_letter not in dic:
                        raise OptionMissingException(
                            f"option {o.prefixed_letter} ({o.desc}) requires option "
                            f"{o2.prefixed_letter} ({o2.desc})")
        if missing:
            missing.sort(key=lambda o: o.letter)
            names = ", ".join(f"{o.prefixed_letter} ({o.desc})" for o in missing)
            raise OptionMissingException(f"option{'s' if len(missing) > 1 else ''} {names} "
                                         "not supplied")
        if not eval_expr_defaults:
            return self.options
        self.eval_expr_defaults()
        return self.options

    def merge_from(self, op2: OptionsParser) -> None:
        """Options given in ``op2`` (the new command line) replace ours; set-once
        options may not change; options we lack are added (cc2011 L160-L170)."""
        for name in list(self.options):
            o2 = op2.options.get(name)
            if o2 is not None and (o2.value_given or not o2.save):
                if o2.set_once and o2.value_given and o2.value != self.options[name].value:
                    raise OptionException(f"option {o2.prefixed_letter} ({o2.desc}) cannot be "
                                          "changed on resume")
                self.options[name] = o2
        for name, o2 in op2.options.items():
            if name not in self.options:
                self.options[name] = o2

    def eval_expr_defaults(self) -> None:
        env = {name: o.value for name, o in self.options.items()}
        for o in self.options.values():
            o.eval_expr_default(env)

    def get_options_list(self) -> list[Option]:
        return sorted(self.options.values(), key=lambda o: o.letter)

    def usage(self, prog: str) -> str:
        lines = [f"{prog} usage:"]
        for o in self.get_options_list():
            val = f"=<{o.parser.get_type_str()}>" if len(o.letter) > 1 else \
                f" <{o.parser.get_type_str()}>"
            default = o.get_str_value(get_default_str=True)
            tail = f" [default: {default}]" if o.default is not None else " (required)"
            lines.append(f"    {o.prefixed_letter}{val}  {o.desc}{tail}")
        return "\n".join(lines)

    def values_text(self) -> str:
        """The option table printed at the start of training (cc2011 print_values)."""
        opts = self.get_options_list()
        w1 = max(len(o.desc) for o in opts)
        w2 = max(len(o.prefixed_letter) for o in opts)
        return "\n".join(f"{o.desc:<{w1}}  {o.prefixed_letter:<{w2}}  {o.get_str_value()}"
                         for o in opts)
