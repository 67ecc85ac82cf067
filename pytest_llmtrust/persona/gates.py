"""Persona-bias metrics as report records, and expectations checked against them.

Every number of a :class:`~pytest_llmtrust.persona.runner.PersonaBiasReport` becomes a
:class:`~pytest_llmtrust.recording.MetricRecord` (and so a JUnit property), named:

* ``pb``, ``tb``, ``bamt``, ``accuracy``, ``bs``, ``shape``: the headline (the default
  persona's TB/BAmt/accuracy/BS, PB over personas), means over templates; with more than one
  template also ``pb_std``, ``tb_std``, ... (population std over templates);
* ``pb[p]``, ``tb[p]``, ``bamt[p]``, ``accuracy[p]``, ``bs[p]``: per persona;
* ``tb[p->t]``, ``bamt[p->t]``: per persona and target group.

Each record carries the report's ``scope`` (ambig, disambig or all), answer ``mode``
(``choice`` or ``generate:<parser>``), model and ``n`` (items in scope).

Expectations (the YAML ``expect:`` block, or ``report.require(...)``):

* ``pb``, ``tb``, ``bamt``, ``accuracy``, ``bs``: a threshold such as ``"< 0.10"``;
* ``shape``: one shape or a list of allowed shapes;
* ``pb_for: {persona: threshold}``; ``tb_for`` / ``bamt_for: {persona: {target: threshold}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError, did_you_mean
from pytest_llmtrust.recording import MetricRecord
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from pytest_llmtrust.persona.runner import PersonaBiasReport

HEADLINE = ("pb", "tb", "bamt", "accuracy", "bs")
"""Scalar metrics of the report (means over templates)."""
SHAPES = ("ideal", "balanced", "skewed", "skewed-heavy")
PER_PERSONA = ("pb_for",)
PER_TARGET = ("tb_for", "bamt_for")
EXPECTATION_KEYS = (*HEADLINE, "shape", *PER_PERSONA, *PER_TARGET)


def _mean(report: PersonaBiasReport, field: str, *keys: str) -> float:
    """A per-persona (or per persona/target) value, averaged over templates."""
    values = []
    for by_scope in report.by_template:
        value: Any = getattr(by_scope[report.scope], field)
        for key in keys:
            value = value[key]
        values.append(float(value))
    return fmean(values)


def _base(report: PersonaBiasReport, metric: str, value: float | str) -> MetricRecord:
    n = report.result().n_items
    return MetricRecord(
        metric=metric,
        value=value,
        model=report.model,
        n=n,
        unparsed=report.unparsed,
        scope=report.scope,
        mode=report.mode,
    )


def metric_value(report: PersonaBiasReport, metric: str) -> float | str:
    """The value of a record name such as ``pb``, ``shape``, ``pb[kid]`` or ``tb[kid->old]``."""
    if metric in HEADLINE:
        return float(getattr(report, metric))
    if metric == "shape":
        return report.shape()
    name, _, inner = metric.partition("[")
    if not inner.endswith("]") or name not in HEADLINE:
        raise ConfigError(f"unknown persona-bias metric {metric!r}")
    persona, _, target = inner[:-1].partition("->")
    result = report.result()
    if persona not in result.tb_by_persona:
        raise ConfigError(f"no persona {persona!r} in this run; personas: {', '.join(report.personas)}")
    if not target:
        field = {"pb": "pb_by_persona", "tb": "tb_by_persona", "bamt": "bamt_by_persona"}.get(
            name, f"{name}_by_persona"
        )
        if name == "pb" and persona == result.default:
            raise ConfigError(f"PB is measured against the default persona {persona!r}, which has none of its own")
        return _mean(report, field, persona)
    targets = result.tb_by_persona_target[persona]
    if target not in targets:
        raise ConfigError(f"no target {target!r}{did_you_mean(target, list(targets))}; targets: {', '.join(targets)}")
    if name not in ("tb", "bamt"):
        raise ConfigError(f"{name} is not measured per target; use tb[...] or bamt[...]")
    return _mean(report, f"{name}_by_persona_target", persona, target)


def metric_records(report: PersonaBiasReport) -> list[MetricRecord]:
    """Every metric of the report as an ungated record (see the module docstring for the names)."""
    records = [_base(report, m, metric_value(report, m)) for m in (*HEADLINE, "shape")]
    if len(report.templates) > 1:
        average = report.average()
        records += [_base(report, f"{m}_std", float(getattr(average, m).std)) for m in HEADLINE]
    result = report.result()
    for persona in report.personas:
        names = ("tb", "bamt", "accuracy", "bs") if persona == result.default else HEADLINE
        records += [_base(report, f"{m}[{persona}]", metric_value(report, f"{m}[{persona}]")) for m in names]
        for target in result.tb_by_persona_target[persona]:
            for m in ("tb", "bamt"):
                name = f"{m}[{persona}->{target}]"
                records.append(_base(report, name, metric_value(report, name)))
    return records


@dataclass(frozen=True)
class Gate:
    """One expectation: a metric record name and a threshold, or the allowed shapes."""

    metric: str
    threshold: Threshold | None = None
    shapes: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        """The expectation as written in a report."""
        if self.threshold is not None:
            return str(self.threshold)
        return self.shapes[0] if len(self.shapes) == 1 else "one of " + ", ".join(self.shapes)

    def check(self, report: PersonaBiasReport) -> tuple[bool, MetricRecord]:
        """Whether the report meets this gate, and the gated record."""
        value = metric_value(report, self.metric)
        if self.threshold is not None:
            passed = self.threshold.check(float(value))
        else:
            passed = value in self.shapes
        rec = _base(report, self.metric, value)
        rec.threshold, rec.passed = self.expected, passed
        return passed, rec


def _shapes(value: object) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(v, str) for v in names):
        raise ConfigError(f"shape must be a shape name or a list of them ({', '.join(SHAPES)}), got {value!r}")
    for name in names:
        if name not in SHAPES:
            raise ConfigError(f"unknown shape {name!r}{did_you_mean(name, SHAPES)}; shapes: {', '.join(SHAPES)}")
    return tuple(names)


def _mapping(key: str, value: object, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{key} must map persona names to thresholds, e.g. {example}; got {value!r}")
    return value


def parse_gate(key: str, value: object) -> list[Gate]:
    """The gates of one expectation entry (``pb_for``/``tb_for`` fan out into one gate per persona/target)."""
    if key in HEADLINE:
        return [Gate(key, Threshold.parse(value))]
    if key == "shape":
        return [Gate("shape", shapes=_shapes(value))]
    if key in PER_PERSONA:
        per = _mapping(key, value, "{kid: '< 0.2'}")
        return [Gate(f"pb[{p}]", Threshold.parse(t)) for p, t in per.items()]
    if key in PER_TARGET:
        metric = key.removesuffix("_for")
        gates = []
        for persona, by_target in _mapping(key, value, "{kid: {old: '> -0.5'}}").items():
            for target, text in _mapping(f"{key}.{persona}", by_target, "{old: '> -0.5'}").items():
                gates.append(Gate(f"{metric}[{persona}->{target}]", Threshold.parse(text)))
        return gates
    raise ConfigError(
        f"unknown persona-bias expectation {key!r}{did_you_mean(key, EXPECTATION_KEYS)}; "
        f"expectations: {', '.join(EXPECTATION_KEYS)}"
    )


def explain(report: PersonaBiasReport, gate: Gate) -> list[str]:
    """Why a gate failed: the value, the expectation, and the numbers behind it."""
    result = report.result()
    value = metric_value(report, gate.metric)
    shown = value if isinstance(value, str) else f"{value:.3f}"
    lines = [
        f"{gate.metric} = {shown}, expected {gate.expected}",
        f"  {report.model}, mode {report.mode}, scope {report.scope}, {result.n_items} items, "
        f"{len(report.personas)} personas, {len(report.templates)} template(s)"
        + (f", {report.unparsed} unparsed answers" if report.unparsed else ""),
    ]
    if gate.metric == "shape":
        lines.append(
            f"  TB {report.tb:.3f} (high at >= {report.tb_threshold:g}), BAmt {report.bamt:.3f} "
            f"(high at >= {report.bamt_threshold:g})"
        )
    if gate.metric.startswith("pb"):
        worst = sorted(result.pb_by_persona.items(), key=lambda kv: -kv[1])[:5]
        lines.append("  PB_p: " + ", ".join(f"{p} {v:.3f}" for p, v in worst))
    if gate.metric.startswith(("tb", "bamt")):
        for persona in report.personas:
            row = result.tb_by_persona_target[persona]
            lines.append(f"  TB[{persona}->t]: " + ", ".join(f"{t} {v:+.3f}" for t, v in row.items()))
    return lines
