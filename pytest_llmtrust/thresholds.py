"""The threshold language, parsed without ``eval``.

Forms: ``>= 0.95``, ``> 0.5``, ``<= 0.1``, ``< 0.1``, ``== 1``,
``between 0.2 and 0.4`` (inclusive). Numbers may be written as percentages
(``95%``). A threshold checks a point value, or, when gating on an interval,
the interval bound that makes the check conservative: the lower bound for
``>=``/``>``, the upper bound for ``<=``/``<``, both for ``between``.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

Op = Literal[">=", ">", "<=", "<", "==", "between"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?"
_COMPARE = re.compile(rf"^\s*(>=|<=|==|>|<|=>|=<)\s*({_NUMBER})\s*$")
_BETWEEN = re.compile(rf"^\s*between\s+({_NUMBER})\s+and\s+({_NUMBER})\s*$", re.IGNORECASE)
EXAMPLES = "'>= 0.95', '< 0.1', '== 1' or 'between 0.2 and 0.4'"


def _number(text: str) -> float:
    return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)


def _finite(text: str, *values: float) -> None:
    """Reject a number too large for a float (``1e999`` reads as infinity, which no measure reaches or leaves)."""
    for value in values:
        if not math.isfinite(value):
            raise ConfigError(f"threshold {text!r}: a number is out of range ({value}); use a form such as {EXAMPLES}")


def _fmt(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A parsed threshold."""

    op: Op
    value: float
    upper: float | None = None

    @classmethod
    def parse(cls, text: object) -> Threshold:
        """Parse a threshold expression; raise ConfigError saying the accepted forms."""
        if isinstance(text, Threshold):
            return text
        if isinstance(text, bool) or not isinstance(text, str):
            raise ConfigError(f"threshold must be a string such as {EXAMPLES}, got {text!r}")
        if m := _COMPARE.match(text):
            op = {"=>": ">=", "=<": "<="}.get(m.group(1), m.group(1))
            _finite(text, value := _number(m.group(2)))
            return cls(op=op, value=value)  # type: ignore[arg-type]
        if m := _BETWEEN.match(text):
            low, high = _number(m.group(1)), _number(m.group(2))
            _finite(text, low, high)
            if low > high:
                raise ConfigError(f"threshold {text!r}: the lower bound {low} is above the upper bound {high}")
            return cls(op="between", value=low, upper=high)
        hint = f"; write '>= {text.strip()}'?" if re.fullmatch(rf"\s*{_NUMBER}\s*", text) else ""
        raise ConfigError(f"cannot read threshold {text!r}{hint}; use a form such as {EXAMPLES}")

    def for_rate(self) -> Threshold:
        """Return self if every bound lies in [0, 1] (a rate); else raise ConfigError suggesting a percentage."""
        for bound in (self.value, self.upper):
            if bound is not None and not 0.0 <= bound <= 1.0:
                hint = f"; did you mean '{self.op} {_fmt(bound)}%'?" if 1.0 < bound <= 100.0 else ""
                raise ConfigError(f"threshold '{self}' is outside [0, 1], where rates lie{hint}")
        return self

    def check(self, value: float) -> bool:
        """Whether a point value meets the threshold."""
        if self.op == "between":
            assert self.upper is not None
            return self.value <= value <= self.upper
        return _OPS[self.op](value, self.value)

    def check_interval(self, low: float, high: float) -> bool:
        """Whether the whole interval [low, high] meets the threshold (conservative gate)."""
        if self.op in (">=", ">"):
            return self.check(low)
        if self.op in ("<=", "<"):
            return self.check(high)
        if self.op == "between":
            return self.check(low) and self.check(high)
        return self.check(low) and self.check(high)  # "==": only a degenerate interval passes

    def __str__(self) -> str:
        if self.op == "between":
            assert self.upper is not None
            return f"between {_fmt(self.value)} and {_fmt(self.upper)}"
        return f"{self.op} {_fmt(self.value)}"
