"""Load BBQ (Parrish et al., 2022) as :class:`BBQItem` objects, roles and targets worked out (methods.md §1.3)."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args

from pytest_llmtrust.errors import BackendUnavailable, ConfigError, SuiteError, did_you_mean
from pytest_llmtrust.persona.item import UNKNOWN_TARGET, BBQItem, Condition, Polarity

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import BinaryIO

TargetLevel = Literal["auto", "group", "name"]
Level = Literal["group", "name"]
HUB_PREFIX = "hf:"

# The level at which each category's targets are named (docs/methods.md §1.3 "Target level"). From the
# paper: Religion and Sexual_orientation use option names; SES, Race_ethnicity and Age use groups (lowSES,
# old/nonOld, race labels). Our choices: Disability_status, Physical_appearance and Gender_identity use groups
# (their names are descriptions such as "wheelchair"); Nationality uses names, as its stereotyped_groups are
# nationalities ("British") but its groups are regions ("Europe"), which would lump a stereotyped nationality
# with others. ``load_bbq(target_level="group" | "name")`` overrides this table.
TARGET_LEVEL: dict[str, Level] = {
    "Age": "group", "Disability_status": "group", "Gender_identity": "group", "Nationality": "name",
    "Physical_appearance": "group", "Race_ethnicity": "group", "Religion": "name", "SES": "group",
    "Sexual_orientation": "name",
}  # fmt: skip
REQUIRED = (
    "example_id", "question_index", "question_polarity", "context_condition", "category", "answer_info",
    "additional_metadata", "context", "question", "ans0", "ans1", "ans2", "label",
)  # fmt: skip
_SES = re.compile(r"(low|high)\s*ses", re.IGNORECASE)
_GENDER_PREFIX = re.compile(r"[FM]-(?=.)")
T = TypeVar("T")


def canonical(label: str) -> str:
    """A label as targets show it: trimmed, ``"low SES"`` -> ``"lowSES"``, ``"F-Black"`` -> ``"Black"``."""
    text = " ".join(label.split())
    ses = _SES.fullmatch(text)
    return ses.group(1).lower() + "SES" if ses else _GENDER_PREFIX.sub("", text, count=1)


def label_key(label: str) -> str:
    """The form in which labels are compared: :func:`canonical`, case-folded."""
    return canonical(label).casefold()


@dataclass(frozen=True)
class _Where:
    path: str
    line: int

    def error(self, message: str, key: str) -> SuiteError:
        return SuiteError(self.path, message, line=self.line, key=key)


def _get(row: Mapping[str, Any], key: str, kind: type[T], where: _Where, allowed: Sequence[object] = ()) -> T:
    """``row[key]``, checked to be a ``kind`` (and one of ``allowed`` when given), else a SuiteError."""
    if key not in row:
        raise where.error(f"missing field; a BBQ row needs all of {', '.join(REQUIRED)}", key)
    value = row[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise where.error(f"expected {kind.__name__}, got {type(value).__name__} {value!r}", key)
    if allowed and value not in allowed:
        hint = did_you_mean(str(value), map(str, allowed))
        raise where.error(f"must be one of {', '.join(map(repr, allowed))} (got {value!r}){hint}", key)
    return value


def _answer_info(row: Mapping[str, Any], where: _Where) -> list[tuple[str, str]]:
    info = _get(row, "answer_info", dict, where)
    pairs = [info.get(f"ans{i}") for i in range(3)]
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise where.error(f"ans{i} must be [name, group], two strings (got {pair!r})", "answer_info")
    return [(pair[0], pair[1]) for pair in cast("list[list[str]]", pairs)]


def _stereotyped_groups(row: Mapping[str, Any], where: _Where) -> list[str]:
    groups = _get(row, "additional_metadata", dict, where).get("stereotyped_groups")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise where.error(f"must be a list of group names (got {groups!r})", "additional_metadata.stereotyped_groups")
    return groups


def _roles(info: list[tuple[str, str]], groups: list[str], where: _Where) -> tuple[int, int, int]:
    """``(unknown, stereotyped, anti)`` option indices, or a SuiteError that shows the values seen."""
    unknowns = [i for i, (_, group) in enumerate(info) if label_key(group) == UNKNOWN_TARGET]
    if len(unknowns) != 1:
        seen = [group for _, group in info]
        raise where.error(f"exactly one option needs the group 'unknown' (groups are {seen!r})", "answer_info")
    others = [i for i in range(3) if i != unknowns[0]]
    wanted = {label_key(g) for g in groups}
    matches = [i for i in others if label_key(info[i][0]) in wanted or label_key(info[i][1]) in wanted]
    if len(matches) != 1:
        options = "; ".join(f"ans{i} name {info[i][0]!r} group {info[i][1]!r}" for i in others)
        found = f"{'both' if matches else 'neither'} of the non-unknown options ({options}) in {groups!r}"
        raise where.error(f"{found}; list exactly one option's name or group", "additional_metadata.stereotyped_groups")
    return unknowns[0], matches[0], next(i for i in others if i != matches[0])


def _level(category: str, target_level: TargetLevel, where: _Where) -> Level:
    level = TARGET_LEVEL.get(category) if target_level == "auto" else target_level
    if level is None:
        hint = f"{did_you_mean(category, TARGET_LEVEL)}; pass target_level='group' or 'name'"
        raise where.error(f"no default target level for category {category!r}{hint}", "category")
    return level


def bbq_item(
    row: Mapping[str, Any], *, source: str = "<row>", line: int = 0, target_level: TargetLevel = "auto"
) -> BBQItem:
    """One BBQ row as a :class:`BBQItem`; ``source`` and ``line`` say where it is, for errors.

    Raises:
        SuiteError: the row is malformed, or its roles cannot be worked out.
    """
    where = _Where(source, line)
    label = _get(row, "label", int, where, allowed=(0, 1, 2))
    category = _get(row, "category", str, where)
    info = _answer_info(row, where)
    unknown, stereotyped, anti = _roles(info, _stereotyped_groups(row, where), where)
    pick = 1 if _level(category, target_level, where) == "group" else 0
    targets = [UNKNOWN_TARGET if i == unknown else canonical(info[i][pick]) for i in range(3)]
    return BBQItem(
        example_id=_get(row, "example_id", int, where),
        category=category,
        question_index=_get(row, "question_index", str, where),
        polarity=cast("Polarity", _get(row, "question_polarity", str, where, allowed=get_args(Polarity))),
        condition=cast("Condition", _get(row, "context_condition", str, where, allowed=get_args(Condition))),
        context=_get(row, "context", str, where),
        question=_get(row, "question", str, where),
        answers=(_get(row, "ans0", str, where), _get(row, "ans1", str, where), _get(row, "ans2", str, where)),
        label=label,
        unknown=unknown,
        stereotyped=stereotyped,
        anti=anti,
        targets=(targets[0], targets[1], targets[2]),
        source=f"{source}:{line}",
        line=line,
    )


def _json_lines(path: Path, handle: BinaryIO) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(handle, 1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
            message = f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); save the file as UTF-8"
            raise SuiteError(path, message, line=number, column=column) from None
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(
                path, f"invalid JSON: {exc.msg}; write one JSON object a line", line=number, column=exc.colno
            ) from None
        except (ValueError, RecursionError) as exc:  # a number too long for Python; nesting too deep
            reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else "nested too deeply"
            raise SuiteError(path, f"invalid JSON: {reason}", line=number) from None
        if not isinstance(row, dict):
            raise SuiteError(path, f"expected a JSON object, got {type(row).__name__}", line=number)
        yield number, row


def _check_categories(wanted: Sequence[str] | None, available: Iterable[str], where: object) -> None:
    have = sorted(set(available))
    for name in [name for name in wanted or () if name not in have]:
        raise ConfigError(f"no BBQ category {name!r} in {where}{did_you_mean(name, have)} (have: {', '.join(have)})")


@dataclass(frozen=True)
class _Reader:
    """Reads rows, keeping those of ``categories`` (the rows' field), up to ``limit`` items a file."""

    categories: Sequence[str] | None
    level: TargetLevel
    limit: int | None

    def collect(self, rows: Iterable[tuple[int, Mapping[str, Any]]], source: str) -> list[BBQItem]:
        items: list[BBQItem] = []
        for line, row in rows if self.limit != 0 else ():
            if self.categories is None or _get(row, "category", str, _Where(source, line)) in self.categories:
                items.append(bbq_item(row, source=source, line=line, target_level=self.level))
            if len(items) == self.limit:  # stop before reading the next line
                break
        return items

    def file(self, path: Path) -> list[BBQItem]:
        with path.open("rb") as handle:  # bytes: a line that is not UTF-8 is reported at its own line
            return self.collect(_json_lines(path, handle), str(path))

    def hub(self, dataset_id: str) -> list[BBQItem]:
        """A ``datasets`` hub copy of BBQ, one config per category, split ``test``. Not tested online."""
        where, remedy = f"{HUB_PREFIX}{dataset_id}", "or pass a local folder of BBQ *.jsonl files"
        try:
            datasets = importlib.import_module("datasets")
        except ImportError:
            raise BackendUnavailable(f"{where} needs 'datasets': pip install datasets, {remedy}") from None
        try:
            names = self.categories or datasets.get_dataset_config_names(dataset_id)
            tables = {name: list(datasets.load_dataset(dataset_id, name, split="test")) for name in names}
        except Exception as exc:
            raise BackendUnavailable(f"cannot load {where} ({exc}); check the id and network, {remedy}") from exc
        return [item for name, rows in tables.items() for item in self.collect(enumerate(rows, 1), f"{where}/{name}")]


def load_bbq(
    source: str | Path,
    *,
    categories: Sequence[str] | None = None,
    target_level: TargetLevel = "auto",
    limit: int | None = None,
) -> list[BBQItem]:
    """Load BBQ items with their UNKNOWN, stereotyped and anti-stereotyped options worked out.

    Args:
        source: a BBQ ``.jsonl`` file; a folder of category files (``*.jsonl``, read in sorted order);
            or ``"hf:<dataset id>"``, a ``datasets`` hub copy with one config per category.
        categories: keep only these categories: file names without ``.jsonl`` in a folder, the rows'
            ``category`` field in a single file, config names on the hub.
        target_level: ``"auto"`` names targets as :data:`TARGET_LEVEL` says; ``"group"`` or ``"name"``
            use the ``answer_info`` group or name in every category.
        limit: keep only the first ``limit`` items of each file, for quick runs.

    Returns:
        The items, file by file, each file in its own order.

    Raises:
        ConfigError: a bad argument, a missing path, or a category that is not there.
        SuiteError: a malformed row, located at file:line.
        BackendUnavailable: the hub cannot be used here.
    """
    if target_level not in get_args(TargetLevel):
        raise ConfigError(f"target_level must be 'auto', 'group' or 'name' (got {target_level!r})")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be a count of items, 0 or more (got {limit})")
    categories = [categories] if isinstance(categories, str) else categories  # "Age" means ["Age"], not letters
    reader = _Reader(categories, target_level, limit)
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        return reader.hub(source.removeprefix(HUB_PREFIX))
    path = Path(source)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        raise ConfigError(f"no BBQ data at {path}: give a BBQ .jsonl file or a folder of them")
    if path.is_dir():  # BBQ names each file after its category: skip the others unread
        _check_categories(categories, (f.stem for f in files), path)
        files = [f for f in files if categories is None or f.stem in categories]
    items = [item for f in files for item in reader.file(f)]
    if limit is None:  # under a limit, a category may simply lie past the cut
        _check_categories(categories, (item.category for item in items), path)
    return items
