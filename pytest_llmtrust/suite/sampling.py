"""A ``prompts`` suite's ``samples:`` key: validated into a SamplingPlan, its problems located in the file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.metrics.rounds import check_decoding
from pytest_llmtrust.metrics.sampling import SamplingPlan
from pytest_llmtrust.suite import yamlsafe
from pytest_llmtrust.suite.schema import PASS_K_METRICS

if TYPE_CHECKING:
    from pathlib import Path

    from yaml.nodes import Node

    from pytest_llmtrust.backends.base import GenerationParams
    from pytest_llmtrust.suite.schema import SuiteModel

Where = tuple[int | None, int | None]


def load_sampling(path: Path, root: Node | None, model: SuiteModel) -> tuple[SamplingPlan | None, Where]:
    """The suite's sampling plan (None without ``samples:``) and where ``samples`` is written.

    Raises:
        SuiteError: a pass^k metric without ``samples``, ``k`` above ``n``, or several samples with
            ``temperature: 0`` in the suite's own ``generation``.
    """
    where = yamlsafe.locate(root, ("samples",))
    spec = model.samples
    if spec is None:
        for name in model.expect:
            if name in PASS_K_METRICS:
                line, col = yamlsafe.locate(root, ("expect", name), key=True)
                raise SuiteError(
                    path,
                    f"{name} needs repeated sampling: add 'samples: N' (answers per prompt) and "
                    "generation: {temperature: 0.7, seed: 0}",
                    line=line,
                    column=col,
                    key=f"expect.{name}",
                )
        return None, where
    if spec.k is not None and spec.k > spec.n:
        line, col = yamlsafe.locate(root, ("samples", "k"))
        raise SuiteError(
            path, f"k={spec.k} is above n={spec.n}; pass^k needs k <= n", line=line, column=col, key="samples.k"
        )
    plan = SamplingPlan(spec.n, early_stop=spec.early_stop, min=spec.min, k=spec.k)
    temperature = model.generation.temperature if model.generation is not None else None
    if temperature == 0:
        from pytest_llmtrust.backends.base import GenerationParams

        check_greedy(path, where, GenerationParams(), plan)
    return plan, where


def check_greedy(path: Path, where: Where, params: GenerationParams, plan: SamplingPlan) -> None:
    """Raise a SuiteError at ``samples`` when several samples meet greedy decoding.

    Raises:
        SuiteError: ``plan.n > 1`` and the temperature is 0.
    """
    try:
        check_decoding(params, plan)
    except ConfigError as exc:
        raise SuiteError(path, str(exc), line=where[0], column=where[1], key="samples") from None
