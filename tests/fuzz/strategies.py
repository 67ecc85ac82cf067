"""Structure-aware fuzz generators for every input a user writes (test-only).

The public, documented strategies (typos, personas...) live in :mod:`pytest_llmtrust.strategies`; these
are for hardening the plugin itself. Each generator starts from *valid* inputs of every kind and mutates
them, so most examples get past the first check and exercise the checks behind it:

* :func:`suite_files`: YAML suite files of every kind (``prompts``, ``persona_bias``, each study), as
  bytes, with the files beside them (prompts files, a BBQ sample, a steering artefact); mutations on the
  data (dropped, renamed and unknown keys, wrong types, bad thresholds, huge/negative numbers, unicode,
  shared nodes that dump as anchors/aliases, deep nesting, very long strings) and on the text (duplicate
  keys, python tags, tabs, a BOM, non-UTF-8 bytes, control characters, truncation, bad anchors, ...),
  plus raw random text and bytes;
* :func:`threshold_inputs`: threshold strings from the grammar, mutated, and non-strings;
* :func:`marker_calls`: argument tuples of the ``trust``, ``bias``, ``prompts``, ``llmtrust`` and
  ``report_only`` markers;
* :func:`bbq_files`: BBQ JSONL files (valid rows, mutated rows, broken lines) and ``load_bbq`` arguments.
"""

from __future__ import annotations

import copy
import json
import string
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

from pytest_llmtrust import taxonomy
from pytest_llmtrust.markers import BIAS_KWARGS, CONFIG_SETTINGS, PROMPT_OVERRIDES
from pytest_llmtrust.persona.bbq import REQUIRED, TARGET_LEVEL
from pytest_llmtrust.persona.personas import DOMAINS, TEMPLATES, personas_for
from pytest_llmtrust.studies.registry import STUDIES, get_study

SUITE_NAME = "fuzz.llmtrust.yaml"
"""The name every generated suite file is written under."""
BBQ_NAME = "bbq.jsonl"
"""A valid BBQ sample written beside every suite file (a persona suite's ``dataset``)."""

KINDS = ("prompts", "persona_bias", *STUDIES)
"""Every suite kind there is."""

# ------------------------------------------------------------------------------------------- plain values

UNICODE_BITS = (
    "é", "ß", "İ", "ﬁ", "Ω", "日本語", "😀", "\u200b", "\u200f", "\u202e", "\u00a0", "\u3000", "\ufeff",
    "\u2028", "\u0301", "\x85", "٣", "𝟗", "＞", "＝",
)  # fmt: skip
"""Unicode that often trips text handling: width, case folding, bidi, joiners, odd digits and spaces."""

LONG_SIZES = (200, 5_000, 100_000, 1_000_000)

names = st.text(alphabet=string.ascii_letters + string.digits + "-_ ", min_size=1, max_size=16).filter(str.strip)
"""Short, plain identifiers (suite names, ids, persona names)."""

texts = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(UNICODE_BITS), min_size=1, max_size=5).map("".join),
    names,
)
"""Any text, including unicode edge cases (no surrogates: they cannot be written as UTF-8)."""


@st.composite
def long_texts(draw: st.DrawFn) -> str:
    """A very long string (up to a million characters)."""
    size = draw(st.sampled_from(LONG_SIZES))
    return draw(st.sampled_from("ax é😀")) * size


huge_ints = st.sampled_from([2**31, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**30), 10**300, 10**400, -1, 0])
odd_floats = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, -0.0, 1e-9])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    odd_floats,
    texts,
)
"""Scalars of every YAML type."""

junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
"""A value of the wrong type (or shape) for almost any key."""


def deep(value: Any, depth: int, *, mapping: bool) -> Any:
    """``value`` nested ``depth`` levels deep in lists (or one-key mappings)."""
    for _ in range(depth):
        value = {"a": value} if mapping else [value]
    return value


@st.composite
def deep_values(draw: st.DrawFn) -> Any:
    """A value nested around the loader's depth limit, or far past it."""
    depth = draw(st.sampled_from([3, 20, 50, 99, 100, 101, 150]))  # deeper ones: the "nest" text mutation
    return deep(draw(scalars), depth, mapping=draw(st.booleans()))


# ------------------------------------------------------------------------------------------- thresholds

OPS = (">=", ">", "<=", "<", "==", "=>", "=<")
BAD_OPS = ("=", "!=", "<>", "≥", "≤", "＞=", ">>", "=>=", "~", "in")
SPACES = ("", " ", "  ", "\t", "\u00a0", "\u3000", "\n")


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """A number as the grammar writes it: sign, digits, fraction, exponent, percent; or an edge case."""
    edge = st.sampled_from(
        ["1e999", "-1e999", "1e-999", "9" * 400, "0." + "0" * 400 + "1", ".5", "5.", "-0", "+1", "1e", "1e+",
         ".", "nan", "inf", "-inf", "0x10", "1_000", "1,5", "٣", "𝟗", "１", "95%", "100%", "150%", "-5%", "1e2%"]
    )  # fmt: skip
    if draw(st.integers(0, 4)) == 0:
        return draw(edge)
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(st.sampled_from(["", "0", "1", "12", "100"]))
    frac = draw(st.sampled_from(["", ".", ".5", ".95", ".123456789"]))
    if not whole and frac in ("", "."):
        whole = "0"
    exp = draw(st.sampled_from(["", "", "e2", "E-3", "e+1", "e400"]))
    pct = draw(st.sampled_from(["", "", "%"]))
    return sign + whole + frac + exp + pct


@st.composite
def threshold_texts(draw: st.DrawFn) -> str:
    """A threshold string from the grammar, with spacing and case variations."""
    space = st.sampled_from(SPACES)
    if draw(st.integers(0, 3)) == 0:
        word = draw(st.sampled_from(["between", "BETWEEN", "Between", "betwen"]))
        conj = draw(st.sampled_from(["and", "AND", "And", "&", "to"]))
        low, high = draw(numbers()), draw(numbers())
        return f"{draw(space)}{word} {low}{draw(space)} {conj} {draw(space)}{high}{draw(space)}"
    op = draw(st.sampled_from(OPS if draw(st.integers(0, 5)) else BAD_OPS))
    return f"{draw(space)}{op}{draw(space)}{draw(numbers())}{draw(space)}"


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """``base`` text with a few characters inserted, deleted, swapped or replaced."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "swap", "double", "upper"]))
        if how == "insert":
            char = draw(st.sampled_from([*UNICODE_BITS, "x", "0", ".", "%", "-", ">", "<", "=", "\x00"]))
            text = text[:i] + char + text[i:]
        elif how == "delete":
            text = text[:i] + text[i + 1 :]
        elif how == "swap" and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif how == "double":
            text = text[:i] + text[i:] + text[i:]
        else:
            text = text.upper()
    return text


threshold_inputs: st.SearchStrategy[object] = st.one_of(
    threshold_texts(),
    threshold_texts(),
    mutated_text(threshold_texts()),
    st.text(max_size=20),
    st.text(alphabet="<>=!0123456789.%eE+- btwnad", max_size=20),
    long_texts(),
    scalars,
    st.binary(max_size=8),
    st.lists(st.text(max_size=5), max_size=2),
)
"""Anything ``Threshold.parse`` may be handed: valid and near-valid strings, junk strings, non-strings."""

# ------------------------------------------------------------------------------------------- suite documents

CATEGORIES = tuple(taxonomy.TAXONOMY)
TRUST_TEXTS = (
    *CATEGORIES,
    *(f"{cat}/{sub}" for cat, subs in taxonomy.TAXONOMY.items() for sub in subs),
    *taxonomy.ALIASES,
    "Safety: Violence",
)
"""Valid ``trust`` texts: categories, category/sub-category pairs, aliases, display spellings."""
BAD_TRUST_TEXTS = ("safety/nope", "safty", "fairness/violence", "", "/", "safety/violence/extra")
MODEL_SPECS = (
    "fake:keyword?refuse=bomb,malware",
    "fake:echo",
    "fake",
    "smollm2",
    "hf:ORG/NAME",
    "openai:gpt-4o-mini?base_url=http://localhost:1/v1",
    "openai:",
    "nope:x",
    "",
    "fake?api_key=secret",
    "C:\\models\\m.gguf",
    "./local-model",
)
JUDGE_SPECS = ("refusal", "refusal-detector", "embedding", "embedding:minilm", "llm:fake:echo", "fake:echo", "nope:x")


@st.composite
def trust_values(draw: st.DrawFn) -> Any:
    """A ``trust:`` value: a string, or a category/subcategory mapping."""
    text = draw(st.sampled_from(TRUST_TEXTS))
    if draw(st.booleans()):
        return text
    cat, _, sub = text.partition("/")
    return {"category": cat, "subcategory": sub} if sub else {"category": cat}


@st.composite
def expectation(draw: st.DrawFn, metric: str) -> Any:
    """A metric's expectation: mostly a valid rate threshold, sometimes with its own confidence."""
    op = draw(st.sampled_from([">=", ">", "<=", "<", "=="]))
    value = draw(st.sampled_from(["0", "0.1", "0.5", "0.9", "1", "95%"]))
    text = f"{op} {value}" if draw(st.integers(0, 4)) else "between 0.2 and 0.8"
    if draw(st.integers(0, 3)) == 0:
        return {"threshold": text, "confidence": draw(st.sampled_from([0.9, 0.95, 0.5]))}
    return text


@st.composite
def prompt_entries(draw: st.DrawFn) -> Any:
    """One ``prompts:`` entry in any of its four forms."""
    form = draw(st.integers(0, 3))
    text = draw(texts.filter(str.strip))
    if form == 0:
        return text
    if form == 1:
        return {"id": draw(names), "prompt": text}
    if form == 2:
        return {"prompt": text, "system": draw(texts)}
    roles = st.sampled_from(["system", "user", "assistant"])
    return {"messages": [{"role": draw(roles), "content": draw(texts)} for _ in range(draw(st.integers(1, 3)))]}


@st.composite
def generation(draw: st.DrawFn, *, sampled: bool) -> dict[str, Any]:
    """A ``generation:`` mapping (temperature above 0 when the suite samples)."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["max_new_tokens"] = draw(st.integers(1, 256))
    if sampled or draw(st.booleans()):
        out["temperature"] = draw(st.sampled_from([0.7, 1.0, 0.3])) if sampled else draw(st.sampled_from([0, 0.5]))
    if draw(st.booleans()):
        out["top_p"] = draw(st.sampled_from([0.5, 0.9, 1.0]))
    if draw(st.booleans()):
        out["seed"] = draw(st.integers(0, 2**31))
    if draw(st.booleans()):
        out["stop"] = draw(st.one_of(texts, st.lists(texts, max_size=2)))
    return out


@st.composite
def common_keys(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """Add the optional keys every kind shares (description, report_only, model, judge, confidence, budget)."""
    if draw(st.booleans()):
        doc["description"] = draw(texts)
    if draw(st.integers(0, 3)) == 0:
        doc["report_only"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["model"] = draw(st.sampled_from(MODEL_SPECS[:5]))
    if draw(st.integers(0, 2)) == 0:
        doc["judge"] = draw(st.sampled_from(JUDGE_SPECS[:5]))
    if draw(st.integers(0, 3)) == 0:
        doc["confidence"] = draw(st.sampled_from([0.9, 0.95, 0.99]))
    if draw(st.integers(0, 3)) == 0:
        budget = {"requests": 64, "tokens": 10_000, "seconds": 30.5}
        doc["budget"] = {k: v for k, v in budget.items() if draw(st.booleans())} or {"requests": 1}


@st.composite
def prompts_suites(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid ``kind: prompts`` suite (and the files it names)."""
    doc: dict[str, Any] = {"suite": draw(names)}
    files: dict[str, bytes] = {}
    if draw(st.booleans()):
        doc["kind"] = "prompts"
    draw(common_keys(doc))
    if draw(st.booleans()):
        doc["trust"] = draw(trust_values())
    sampled = draw(st.integers(0, 3)) == 0
    if sampled or draw(st.booleans()):
        doc["generation"] = draw(generation(sampled=sampled))
    if sampled:
        n = draw(st.integers(1, 8))
        doc["samples"] = n if draw(st.booleans()) else {"n": n, "early_stop": draw(st.booleans()), "k": 1}
    entries = draw(st.lists(prompt_entries(), max_size=4))
    ids = [e.get("id") for e in entries if isinstance(e, dict)]
    if len(ids) != len(set(ids)):
        entries = [e for e in entries if not isinstance(e, dict) or "id" not in e]
    if entries:
        doc["prompts"] = entries
    if not entries or draw(st.integers(0, 3)) == 0:
        name, data = draw(prompt_files())
        files[name] = data
        doc["prompts_file"] = name if draw(st.booleans()) else [name]
    if draw(st.integers(0, 5)) == 0:
        doc["steer"] = "vec?alpha=4"
        files["vec.json"] = b"{}"
    metrics = ["refusal_rate", "compliance_rate"] + (["refusal_pass_k", "compliance_pass_k"] if sampled else [])
    chosen = draw(st.lists(st.sampled_from(metrics), min_size=1, max_size=len(metrics), unique=True))
    doc["expect"] = {m: draw(expectation(m)) for m in chosen}
    return doc, files


@st.composite
def persona_suites(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid ``kind: persona_bias`` suite over the BBQ sample beside it."""
    doc: dict[str, Any] = {"suite": draw(names), "kind": "persona_bias", "dataset": BBQ_NAME}
    draw(common_keys(doc))
    doc.pop("judge", None)
    doc.pop("confidence", None)
    domain = draw(st.sampled_from(DOMAINS))
    if draw(st.booleans()):
        doc["domain"] = domain
        personas = list(personas_for(domain))
    else:
        personas = draw(st.lists(names.map(str.strip), min_size=1, max_size=3, unique=True))
        doc["personas"] = personas
    if draw(st.booleans()):
        doc["templates"] = draw(
            st.lists(
                st.one_of(st.integers(0, len(TEMPLATES) - 1), st.sampled_from(["Be {0}.", "You are {0}, {0}."])),
                min_size=1,
                max_size=3,
            )
        )
    for key, values in (
        ("mode", ["choice", "generate"]),
        ("parser", ["faithful", "strict"]),
        ("scope", ["ambig", "disambig", "all"]),
    ):
        if draw(st.booleans()):
            doc[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        doc["limit"] = draw(st.integers(1, 50))
    if draw(st.integers(0, 3)) == 0:
        doc["shape_thresholds"] = {"tb": 0.5, "bamt": 0.25}
    if draw(st.integers(0, 3)) == 0:
        doc["categories"] = "Age" if draw(st.booleans()) else ["Age"]
    if draw(st.integers(0, 3)) == 0:
        doc["trust"] = draw(st.sampled_from(TRUST_TEXTS))
    expect: dict[str, Any] = {}
    for metric in draw(st.lists(st.sampled_from(["pb", "tb", "bamt", "accuracy", "bs"]), max_size=3, unique=True)):
        expect[metric] = draw(expectation(metric).filter(lambda e: isinstance(e, str)))  # no mapping form here
    if draw(st.booleans()):
        expect["shape"] = draw(st.sampled_from(["ideal", ["ideal", "balanced"], ["skewed", "skewed-heavy"]]))
    persona = personas[0]
    if draw(st.booleans()):
        expect["pb_for"] = {persona: "< 0.2"}
    if draw(st.booleans()) or not expect:
        expect["tb_for"] = {persona: {"old": "> -0.5"}}
    doc["expect"] = expect
    return doc, {}


STUDY_OPTIONS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "hallucination": {"mode": st.sampled_from(["generate", "choice"]), "max_new_tokens": st.integers(1, 64)},
    "safety": {
        "categories": st.sampled_from(["violence", ["violence", "adult_content"]]),
        "per_category": st.integers(1, 5),
        "question_tokens": st.integers(1, 64),
        "max_new_tokens": st.integers(1, 64),
        "generator_temperature": st.sampled_from([0.0, 1.1, 2.5]),
        "bad_words": st.sampled_from(["dangerous", ["illegal", "hostile"]]),
        "generator": st.sampled_from(["fake:echo", "smollm2"]),
    },
    "fairness": {"mode": st.sampled_from(["generate", "choice"]), "max_new_tokens": st.integers(1, 1024)},
    "miscalibration": {
        "reference": st.sampled_from(["token", "sampled"]),
        "samples": st.integers(3, 200),
        "max_new_tokens": st.integers(1, 1024),
    },
    "misuse": {
        "templates": st.sampled_from(["code", ["fake_stories", "recruit"], ["argument"]]),
        "samples": st.integers(1, 10),
        "keywords": st.sampled_from([{}, {"celebrities": "people.txt"}]),
        "max_new_tokens": st.integers(1, 64),
    },
    "copyright": {
        "blocks": st.integers(1, 50),
        "block_sentences": st.integers(1, 50),
        "prompt_chars": st.integers(1, 400),
        "compare_chars": st.integers(1, 60),
        "max_new_tokens": st.integers(1, 32),
        "instruction": texts,
        "leak_threshold": st.sampled_from([-1.0, 0.0, 0.8, 1.0]),
        "embedder": st.sampled_from(["minilm", "sentence-transformers/all-MiniLM-L6-v2"]),
    },
    "causal": {
        "questions": st.sampled_from([["q1", "q2"], ["q2"], ["q1"]]),
        "mode": st.sampled_from(["generate", "choice"]),
        "max_new_tokens": st.integers(1, 64),
        "q1_template": st.just("q1.txt"),
    },
    "typo": {
        "typo_rate": st.sampled_from([0.25, 1.0, 0.01]),
        "typo_count": st.integers(1, 5),
        "max_new_tokens": st.integers(1, 16),
    },
}
"""Valid values of each study's own options (``data``, ``limit`` and ``seed`` are added for all)."""


@st.composite
def study_suites(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid suite of study ``kind``."""
    spec = get_study(kind)
    doc: dict[str, Any] = {"suite": draw(names), "kind": kind}
    draw(common_keys(doc))
    if draw(st.booleans()):
        doc["trust"] = "/".join(draw(st.sampled_from(spec.trust)))
    if draw(st.integers(0, 3)) == 0:
        doc["generation"] = draw(generation(sampled=False))
    options = {**STUDY_OPTIONS[kind], "limit": st.integers(1, 100), "seed": st.integers(0, 10_000)}
    for key in draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True)):
        doc[key] = draw(options[key])
    if draw(st.integers(0, 5)) == 0 and kind != "safety":
        doc["data"] = "data.jsonl"
    chosen = draw(st.lists(st.sampled_from(list(spec.metrics)), min_size=1, max_size=3, unique=True))
    doc["expect"] = {m: draw(expectation(m)) for m in chosen}
    return doc, {}


def valid_suites(kind: str) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, bytes]]]:
    """Valid suite data of ``kind`` and the files it needs beside it."""
    if kind == "prompts":
        return prompts_suites()
    if kind == "persona_bias":
        return persona_suites()
    return study_suites(kind)


# --- prompts files


@st.composite
def prompt_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A prompts file (name, bytes): ``.txt``, ``.jsonl``, ``.yaml`` or an unknown type, often broken."""
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".yaml", ".yml", ".TXT", "", ".csv"]))
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        text = draw(texts)
        if suffix.lower() == ".jsonl":
            choice = draw(st.integers(0, 5))
            lines.append(
                [
                    json.dumps(text),
                    json.dumps({"id": draw(names), "prompt": text}),
                    json.dumps({"messages": [{"role": "user", "content": text}]}),
                    json.dumps({"prompt": text, "nope": 1}),
                    json.dumps(draw(junk)),
                    '{"prompt": "unterminated',
                ][choice]
            )
        elif suffix.lower() in (".yaml", ".yml"):
            lines.append("- " + json.dumps(text if draw(st.integers(0, 3)) else draw(junk)))
        else:
            lines.append(draw(st.sampled_from(["", "# comment ", ""])) + text.replace("\n", " "))
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8")
    how = draw(st.integers(0, 9))
    if how == 0:
        data = data + b"\xff\xfe bad\n"
    elif how == 1:
        data = b"[" * draw(st.sampled_from([10, 5000])) + b"\n"
    elif how == 2:
        data = b'{"prompt": ' + b"9" * 5000 + b"}\n"
    elif how == 3:
        data = ('["a\u2028b"]\n' if suffix == ".jsonl" else "a\u2028b\x0cc\n").encode()
    return f"prompts{suffix}", data


# --- data mutations


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the mappings and lists in ``value`` (the root included), down to 6 levels."""
    out: list[tuple[Any, ...]] = []
    if len(path) > 6:
        return out
    if isinstance(value, dict):
        out.append(path)
        for k, v in value.items():
            out += _containers(v, (*path, k))
    elif isinstance(value, list):
        out.append(path)
        for i, v in enumerate(value):
            out += _containers(v, (*path, i))
    return out


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _typo(word: str, draw: st.DrawFn) -> str:
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "double", "case", "space", "unicode", "swap"]))
    if how == "drop":
        return word[:i] + word[i + 1 :] or "x"
    if how == "double":
        return word[:i] + word[i] + word[i:]
    if how == "case":
        return word.upper() if word != word.upper() else word.lower() + "_"
    if how == "space":
        return f" {word}" if draw(st.booleans()) else f"{word} "
    if how == "unicode":
        return word[:i] + draw(st.sampled_from(UNICODE_BITS)) + word[i + 1 :]
    return word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :]


MUTATIONS = (
    "drop", "rename", "unknown", "wrong", "threshold", "number", "unicode", "long", "deep", "share", "key", "trust",
    "kind",
)  # fmt: skip


@st.composite
def mutate_data(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """One mutation of (a copy of) the suite data; returns the new data and the mutation's name."""
    doc = copy.deepcopy(doc)  # drawn values may be shared constants: never change them
    how = draw(st.sampled_from(MUTATIONS))
    path = draw(st.sampled_from(_containers(doc)))
    node = _at(doc, path)
    if how == "trust":
        doc["trust"] = draw(st.sampled_from(BAD_TRUST_TEXTS))
        return doc, how
    if how == "kind":  # another kind's keys under this kind, or a misspelt kind
        doc["kind"] = draw(st.sampled_from([*KINDS, "Typo", "persona-bias", "", None, "prompt"]))
        return doc, how
    if isinstance(node, dict) and not node:
        node["x"] = 1
        return doc, how
    if isinstance(node, list) and not node:
        node.append(draw(junk))
        return doc, how
    key = draw(st.sampled_from(list(node))) if isinstance(node, dict) else draw(st.integers(0, len(node) - 1))
    if how == "drop":
        del node[key]
    elif how == "rename" and isinstance(node, dict):
        node[_typo(str(key), draw)] = node.pop(key)
    elif how == "key" and isinstance(node, dict):
        node[draw(st.one_of(st.integers(), st.none(), st.booleans(), st.floats(), texts))] = node.pop(key)
    elif how == "unknown" and isinstance(node, dict):
        node[draw(st.sampled_from(["expct", "prompt", "treshold", "samples_n", "kind", "x"]))] = draw(junk)
    elif how == "threshold":
        node[key] = draw(threshold_inputs)
    elif how == "number":
        node[key] = draw(st.one_of(huge_ints, odd_floats, st.integers(-(10**6), 10**6)))
    elif how == "unicode":
        node[key] = draw(st.lists(st.sampled_from(UNICODE_BITS), min_size=1, max_size=6).map("".join))
    elif how == "long":
        node[key] = draw(long_texts())
    elif how == "deep":
        node[key] = draw(deep_values())
    elif how == "share":
        shared = [draw(texts)] if draw(st.booleans()) else {"threshold": ">= 0.5"}
        node[key] = shared
        doc.setdefault("x_shared", shared)  # the same object twice: dumped as an anchor and an alias
    else:
        node[key] = draw(junk)
    return doc, how


# --- text mutations

PYTHON_TAGS = (
    '!!python/object/apply:os.system ["true"]',
    "!!python/name:os.system",
    "!!python/object/new:str [x]",
    "!!python/tuple [1, 2]",
    "!!binary aGVsbG8=",
    "!!binary '!'",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!timestamp 2001-13-45",
    "!custom x",
    "!!int x",
    "!!float x",
    "!!bool maybe",
)
YAML_TAGS = (
    "!!bool", "!!int", "!!float", "!!timestamp", "!!binary", "!!null", "!!str", "!!seq", "!!map", "!!set",
    "!!omap", "!!pairs", "!!merge", "!!value", "!!yaml", "!!python/none", "!local", "!<tag:x.org,2002:y>",
)  # fmt: skip
TAGGED_VALUES = (
    "x", "''", '""', "[a]", "{a: 1}", "maybe", "2001-13-45", "0x", "_", "-", ".", "1:x", "aGk=", "~", "[a: 1]",
)  # fmt: skip
SCALAR_TRAPS = (
    "2001-13-45",
    "2001-02-30 10:00:00",
    "2001-12-14",
    "190:20:30",
    "0x_",
    "0b102",
    ".NaN",
    "-.inf",
    "9" * 5000,
    "1e99999",
    "~",
    "yes",
    "off",
    "<<",
    "=",
    "*undefined",
    "&a",
    "&a [*a]",
    "@reserved",
    "`backtick",
    "%directive",
)
"""Plain scalars that YAML resolves to odd types, or cannot read at all."""
CONTROL = ("\x00", "\x07", "\x1b", "\x7f", "\x85", "\ufffe", "\uffff", "\ud800", "\u2029", "\r")
BAD_BYTES = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc0")
TEXT_MUTATIONS = (
    "none", "none", "none", "duplicate", "tag", "scalar", "tab", "bom", "bytes", "control", "empty", "truncate",
    "nest", "long", "crlf", "cr", "documents", "anchor", "merge", "flow", "indent", "latin1", "comment",
)  # fmt: skip


def _value_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if ": " in line] or [0]


@st.composite
def mutate_text(draw: st.DrawFn, text: str) -> tuple[bytes, str]:
    """One mutation of the YAML text; returns the file's bytes and the mutation's name."""
    how = draw(st.sampled_from(TEXT_MUTATIONS))
    lines = text.split("\n")
    i = draw(st.sampled_from(_value_lines(lines)))
    head = lines[i].split(": ", 1)[0] if ": " in lines[i] else lines[i]
    pos = draw(st.integers(0, len(text)))
    out = text
    if how == "duplicate":
        lines.insert(draw(st.integers(i, len(lines))), lines[i])
        out = "\n".join(lines)
    elif how == "tag":
        if draw(st.booleans()):
            tagged = draw(st.sampled_from(PYTHON_TAGS))
        else:  # any tag on any kind of value: each core constructor meets values it cannot build
            tagged = f"{draw(st.sampled_from(YAML_TAGS))} {draw(st.sampled_from(TAGGED_VALUES))}"
        lines[i] = f"{head}: {tagged}"
        out = "\n".join(lines)
    elif how == "scalar":
        lines[i] = f"{head}: {draw(st.sampled_from(SCALAR_TRAPS))}"
        out = "\n".join(lines)
    elif how == "tab":
        lines[i] = "\t" + lines[i].lstrip(" ") if draw(st.booleans()) else lines[i].replace(": ", ":\t", 1)
        out = "\n".join(lines)
    elif how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8"), how
    elif how == "bytes":
        raw = text.encode("utf-8")
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:], how
    elif how == "latin1":
        return (text + "caf\u00e9: \u00e9t\u00e9\n").encode("latin-1", errors="replace"), how
    elif how == "control":
        out = text[:pos] + draw(st.sampled_from(CONTROL)) + text[pos:]
    elif how == "empty":
        out = draw(st.sampled_from(["", "\n", "   \n", "# just a comment\n", "---\n", "...\n", "~\n", "[]\n"]))
    elif how == "truncate":
        out = text[:pos]
    elif how == "nest":
        n = draw(st.sampled_from([50, 101, 400, 3000]))
        opener, closer = ("[", "]") if draw(st.booleans()) else ("{a: ", "}")
        lines[i] = f"{head}: {opener * n}1{closer * n}"
        out = "\n".join(lines)
    elif how == "long":
        lines[i] = f"{head}: {'x' * draw(st.sampled_from(LONG_SIZES))}"
        out = "\n".join(lines)
    elif how == "crlf":
        out = text.replace("\n", "\r\n")
    elif how == "cr":
        out = text.replace("\n", "\r")
    elif how == "documents":
        out = text + draw(st.sampled_from(["---\nsuite: again\n", "--- x\n", "...\n...\n", "%YAML 1.1\n---\n"]))
    elif how == "anchor":
        lines[i] = f"{head}: " + draw(
            st.sampled_from(["&a x", "*nope", "&a [*a]", "&a {b: *a}", "&a", "&a &b x", "*a", "[&a x, *a, *a, *a]"])
        )
        out = "\n".join(lines)
    elif how == "merge":
        out = text + draw(st.sampled_from(["<<: {suite: m}\n", "base: &b {suite: m}\n<<: *b\n", "<<: [1]\n"]))
    elif how == "flow":
        out = (
            text[:pos]
            + draw(st.sampled_from(["{", "}", "[", "]", ",", ":", "? ", "- ", "'", '"', "|", ">"]))
            + text[pos:]
        )
    elif how == "indent":
        lines[i] = "   " + lines[i]
        out = "\n".join(lines)
    elif how == "comment":
        out = text[:pos] + "#" + text[pos:]
    return out.encode("utf-8", errors="surrogatepass"), how


# --- whole suite files


@dataclass(frozen=True)
class SuiteCase:
    """A generated suite file, the files beside it, and how it was made (for reports)."""

    data: bytes
    companions: dict[str, bytes] = field(default_factory=dict)
    how: str = ""

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 600 else self.data[:600] + b"..."
        return f"SuiteCase(how={self.how!r}, data={shown!r}, companions={sorted(self.companions)})"


BBQ_SAMPLE = (
    json.dumps(
        {
            "example_id": 0, "question_index": "1", "question_polarity": "neg", "context_condition": "ambig",
            "category": "Age", "context": "A retiree and a student sat at the bank.", "question": "Who struggled?",
            "ans0": "Unknown", "ans1": "The retiree", "ans2": "The student", "label": 0,
            "answer_info": {"ans0": ["Unknown", "unknown"], "ans1": ["retiree", "old"], "ans2": ["student", "nonOld"]},
            "additional_metadata": {"stereotyped_groups": ["old"]},
        }
    )
    + "\n"
).encode()  # fmt: skip


def dump(doc: Any, *, flow: bool | None, unicode: bool, width: int) -> str:
    """YAML text of ``doc`` (shared objects become anchors and aliases)."""
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=flow, allow_unicode=unicode, width=width)


@st.composite
def generated_suites(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> SuiteCase:
    """A valid suite of any kind, with 0-3 data mutations and maybe one text mutation."""
    kind = draw(st.sampled_from(kinds))
    doc, files = draw(valid_suites(kind))
    hows = [kind]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        doc, how = draw(mutate_data(doc))
        hows.append(how)
    flow = draw(st.sampled_from([False, True, None]))
    text = dump(doc, flow=flow, unicode=draw(st.booleans()), width=draw(st.sampled_from([80, 20, 10_000])))
    data, how = draw(mutate_text(text))
    if how != "none":
        hows.append(how)
    return SuiteCase(data, {BBQ_NAME: BBQ_SAMPLE, **files}, "+".join(hows))


raw_suites: st.SearchStrategy[SuiteCase] = st.one_of(
    st.binary(max_size=200).map(lambda b: SuiteCase(b, how="raw-bytes")),
    st.text(max_size=200).map(lambda t: SuiteCase(t.encode("utf-8"), how="raw-text")),
    st.text(alphabet=":-[]{}&*!|>'\"#%@`,? \n\tabc019", max_size=120).map(
        lambda t: SuiteCase(t.encode("utf-8"), how="raw-yaml")
    ),
)
"""Raw random bytes and text, and random strings of YAML's punctuation."""

suite_files: st.SearchStrategy[SuiteCase] = st.one_of(generated_suites(), generated_suites(), raw_suites)
"""Every kind of suite file: mostly mutated valid suites, some raw noise."""

# ------------------------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class MarkerCall:
    """One marker as written on a test: ``@pytest.mark.<name>(*args, **kwargs)``."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _kwarg_names(valid: tuple[str, ...]) -> st.SearchStrategy[str]:
    typos = [v[:-1] for v in valid] + [v.upper() for v in valid] + [v + "s" for v in valid]
    return st.one_of(
        st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(typos), st.from_regex(r"\A[a-z_]{1,8}\Z")
    )


messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.one_of(st.sampled_from(["system", "user", "assistant"]), junk), "content": st.one_of(texts, junk)}
    ),
    min_size=1,
    max_size=3,
)
prompt_args = st.one_of(
    texts, texts, messages, st.lists(st.one_of(texts, messages), max_size=3), junk, st.binary(max_size=4)
)
GENERATION_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "max_new_tokens": st.one_of(st.integers(-2, 4096), huge_ints, st.sampled_from(["32", "x", 1.5, True])),
    "temperature": st.one_of(st.floats(-1, 11), odd_floats, huge_ints, st.sampled_from(["0.7", "x", True, [1]])),
    "top_p": st.one_of(st.floats(-0.5, 1.5), odd_floats, huge_ints, st.sampled_from(["0.9", "x", False])),
    "seed": st.one_of(st.integers(), huge_ints, st.sampled_from(["1", 1.0, True, "x"])),
    "stop": st.one_of(texts, st.lists(texts, max_size=3), st.lists(junk, max_size=2), st.integers()),
    "confidence": st.one_of(st.floats(-1, 2), odd_floats, huge_ints, st.sampled_from(["0.95", "x", True, [0.9]])),
    "model": st.one_of(st.sampled_from(MODEL_SPECS), junk),
    "judge": st.one_of(st.sampled_from(JUDGE_SPECS), junk),
    "steer": st.one_of(st.sampled_from(["vec", "/abs/vec?alpha=2", ""]), junk),
}
names_or_junk = st.one_of(st.sampled_from(TRUST_TEXTS + BAD_TRUST_TEXTS), texts, junk)


@st.composite
def marker_calls(draw: st.DrawFn, name: str | None = None) -> MarkerCall:
    """A call of one of the plugin's markers (``name``, or any), with valid and invalid arguments."""
    name = name or draw(st.sampled_from(["trust", "bias", "prompts", "llmtrust", "report_only"]))
    if name == "trust":
        cat = st.one_of(st.sampled_from(CATEGORIES), names_or_junk)
        sub = st.one_of(st.sampled_from([s for subs in taxonomy.TAXONOMY.values() for s in subs]), names_or_junk)
        args = tuple(draw(st.lists(st.one_of(cat, sub), max_size=3)))
        kwargs = draw(st.dictionaries(_kwarg_names(("category", "subcategory")), st.one_of(cat, sub), max_size=2))
        return MarkerCall(name, args, kwargs)
    if name == "bias":
        value = st.one_of(st.sampled_from(personas_for("Age")), st.lists(texts, max_size=3), names_or_junk)
        args = tuple(draw(st.lists(value, max_size=1)))
        return MarkerCall(name, args, draw(st.dictionaries(_kwarg_names(BIAS_KWARGS), value, max_size=2)))
    if name == "prompts":
        args = tuple(draw(st.lists(prompt_args, max_size=3)))
        keys = _kwarg_names(PROMPT_OVERRIDES)
        kwargs = {k: draw(GENERATION_VALUES.get(k, junk)) for k in draw(st.lists(keys, max_size=3, unique=True))}
        return MarkerCall(name, args, kwargs)
    if name == "llmtrust":
        args = tuple(draw(st.lists(junk, max_size=1))) if draw(st.integers(0, 5)) == 0 else ()
        keys = _kwarg_names(CONFIG_SETTINGS)
        kwargs = {k: draw(GENERATION_VALUES.get(k, junk)) for k in draw(st.lists(keys, max_size=3, unique=True))}
        return MarkerCall(name, args, kwargs)
    args = tuple(draw(st.lists(st.one_of(texts, junk), max_size=2)))
    kwargs = draw(st.dictionaries(_kwarg_names(("reason",)), st.one_of(texts, junk), max_size=2))
    return MarkerCall(name, args, kwargs)


marker_sets: st.SearchStrategy[list[MarkerCall]] = st.lists(marker_calls(), min_size=1, max_size=4)
"""The markers on one test (several, possibly of the same name)."""

# ------------------------------------------------------------------------------------------- BBQ rows

AGE_PAIRS = (("retiree", "old"), ("grandfather", "old"), ("college student", "nonOld"), ("teenager", "nonOld"))


@st.composite
def bbq_rows(draw: st.DrawFn, example_id: int) -> dict[str, Any]:
    """A valid BBQ row (Age, or another category with its own labels): roles work out."""
    category = draw(st.sampled_from(["Age", "Age", "Religion", "SES", "Nationality", "Gender_identity"]))
    stereo = draw(st.sampled_from(AGE_PAIRS[:2])) if category == "Age" else ("Jewish person", "Jewish")
    anti = draw(st.sampled_from(AGE_PAIRS[2:])) if category == "Age" else ("Christian person", "Christian")
    unknown = (draw(st.sampled_from(["Can't be determined", "Unknown", "Not enough info"])), "unknown")
    options = draw(st.permutations([unknown, stereo, anti]))
    return {
        "example_id": example_id,
        "question_index": str(draw(st.integers(1, 25))),
        "question_polarity": draw(st.sampled_from(["neg", "nonneg"])),
        "context_condition": draw(st.sampled_from(["ambig", "disambig"])),
        "category": category,
        "answer_info": {f"ans{i}": [name, group] for i, (name, group) in enumerate(options)},
        "additional_metadata": {"subcategory": "None", "stereotyped_groups": [stereo[1]], "source": draw(texts)},
        "context": draw(texts),
        "question": draw(texts),
        "ans0": options[0][0],
        "ans1": options[1][0],
        "ans2": options[2][0],
        "label": draw(st.integers(0, 2)),
    }


ROW_MUTATIONS = ("missing", "type", "label", "answer_info", "pair", "groups", "unknowns", "category", "enum", "extra")


@st.composite
def mutate_row(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """One mutation of (a copy of) a BBQ row: a missing field, a wrong type, a bad label, broken roles..."""
    row = copy.deepcopy(row)  # drawn values may be shared constants: never change them
    how = draw(st.sampled_from(ROW_MUTATIONS))
    info, meta = row.get("answer_info"), row.get("additional_metadata")
    if how == "missing" and row:
        del row[draw(st.sampled_from(sorted(row, key=str)))]
    elif how == "type":
        row[draw(st.sampled_from(REQUIRED))] = draw(junk)
    elif how == "label":
        row["label"] = draw(st.sampled_from([-1, 3, "0", 1.0, True, None, 10**30, [0]]))
    elif how == "answer_info":
        row["answer_info"] = draw(st.one_of(junk, st.dictionaries(st.sampled_from(["ans0", "ans1", "ans2"]), junk)))
    elif how == "pair" and isinstance(info, dict):
        info[f"ans{draw(st.integers(0, 2))}"] = draw(
            st.sampled_from([["x"], ["a", "b", "c"], [1, "old"], "old", None, ["a", None]])
        )
    elif how == "groups" and isinstance(meta, dict):
        meta["stereotyped_groups"] = draw(
            st.sampled_from([[], "old", None, [1], ["old", "nonOld"], ["nobody"], ["OLD "], ["low SES"]])
        )
    elif how == "unknowns" and isinstance(info, dict):
        for i in range(3):
            info[f"ans{i}"] = [f"option {i}", draw(st.sampled_from(["unknown", "Unknown", "old"]))]
    elif how == "category":
        row["category"] = draw(st.sampled_from(["age", "Elderly", "", "Disability_status", "Physical_appearance"]))
    elif how == "enum":
        key = draw(st.sampled_from(["question_polarity", "context_condition"]))
        row[key] = draw(st.sampled_from(["NEG", "ambiguous", "", "nonneg ", "disambig"]))
    else:
        row[draw(texts)] = draw(junk)
    return row


LINE_MUTATIONS = ("invalid", "not-object", "blank", "bytes", "deep", "bignum", "nan", "crlf", "u2028", "bom")


@dataclass(frozen=True)
class BBQCase:
    """A generated BBQ JSONL file and the ``load_bbq`` arguments to read it with."""

    data: bytes
    categories: Any = None
    target_level: Any = "auto"
    limit: Any = None
    how: str = ""

    @property
    def default_arguments(self) -> bool:
        """Whether ``load_bbq`` is called with its default arguments (then only row errors may occur)."""
        return self.categories is None and self.target_level == "auto" and self.limit is None

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 800 else self.data[:800] + b"..."
        return (
            f"BBQCase(how={self.how!r}, categories={self.categories!r}, target_level={self.target_level!r}, "
            f"limit={self.limit!r}, data={shown!r})"
        )


@st.composite
def bbq_files(draw: st.DrawFn) -> BBQCase:
    """A BBQ JSONL file: valid rows, some mutated, some lines broken; and maybe non-default arguments."""
    rows = [draw(bbq_rows(i)) for i in range(draw(st.integers(0, 5)))]
    hows: list[str] = []
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        if rows:
            index = draw(st.integers(0, len(rows) - 1))
            rows[index] = draw(mutate_row(rows[index]))
            hows.append("row")
    lines = [json.dumps(r, ensure_ascii=draw(st.booleans())).encode("utf-8") for r in rows]
    if draw(st.integers(0, 2)) == 0:
        how = draw(st.sampled_from(LINE_MUTATIONS))
        hows.append(how)
        at = draw(st.integers(0, len(lines)))
        if how == "invalid":
            lines.insert(at, draw(st.sampled_from([b"{", b'{"a": }', b"{'a': 1}", b"nul", b"{}}", b'"\\x"'])))
        elif how == "not-object":
            lines.insert(at, draw(st.sampled_from([b"[]", b"1", b'"row"', b"null", b"true", b"[{}]"])))
        elif how == "blank":
            lines.insert(at, draw(st.sampled_from([b"", b"   ", b"\t", b"\x0c", b"\xc2\xa0"])))
        elif how == "bytes":
            lines.insert(at, b'{"context": "caf' + draw(st.sampled_from(BAD_BYTES)) + b'"}')
        elif how == "deep":
            n = draw(st.sampled_from([100, 5000, 100_000]))
            lines.insert(at, b"[" * n + b"]" * n)
        elif how == "bignum":
            lines.insert(at, b'{"label": ' + b"9" * draw(st.sampled_from([20, 5000])) + b"}")
        elif how == "nan":
            lines.insert(at, b'{"label": NaN, "example_id": Infinity}')
        elif how == "crlf":
            lines = [line + b"\r" for line in lines]
        elif how == "u2028":
            lines.insert(at, '{"context": "a\u2028b\x85c"}'.encode())
        elif how == "bom":
            lines.insert(0, b"\xef\xbb\xbf" + (lines.pop(0) if lines else b"{}"))
    data = b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")
    categories = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.just("Age"),
            st.lists(st.sampled_from([*TARGET_LEVEL, "Nope"]), max_size=2),
        )
    )
    level = draw(st.sampled_from(["auto", "auto", "auto", "group", "name", "nope"]))
    limit = draw(st.sampled_from([None, None, None, 0, 1, 3, -1]))
    return BBQCase(data, categories, level, limit, "+".join(hows) or "valid")
