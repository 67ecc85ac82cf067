"""A Hypothesis strategy of (persona, target) pairs from the persona-bias module's lists.

The targets of a BBQ domain are its subgroups where the paper names them (Age: ``old`` and
``nonOld``; SES: ``lowSES`` and ``highSES``), else the domain's persona names themselves
(Religion, Race_ethnicity, Sexual_orientation: the paper's targets there are the same groups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import strategies as st

from pytest_llmtrust.persona.personas import DOMAINS, PERSONA_GROUPS, personas_for

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def domain_targets(domain: str) -> tuple[str, ...]:
    """The target groups of a BBQ domain (see the module docstring).

    Raises:
        ConfigError: the domain has no persona list.
    """
    personas = personas_for(domain)
    groups = tuple(g for g in PERSONA_GROUPS[domain] if g)
    return groups or personas


def pairs(domain: str, *, include_default: bool = False) -> list[tuple[str, str]]:
    """Every (persona, target) pair of a domain, in the authors' persona order."""
    personas = personas_for(domain, include_default=include_default)
    return [(p, t) for p in personas for t in domain_targets(domain)]


def persona_targets(domain: str | None = None, *, include_default: bool = False) -> SearchStrategy[tuple[str, str]]:
    """(persona, target) pairs of one BBQ domain, or of any domain when ``domain`` is None.

    Personas are the paper's (Orthodox and Alaskan, dropped by the authors, left out); with
    ``include_default`` the no-persona baseline ``"default"`` is one of them. Shrinks towards
    the first domain, persona and target.

    Raises:
        ConfigError: ``domain`` has no persona list.
    """
    if domain is not None:
        return st.sampled_from(pairs(domain, include_default=include_default))
    return st.one_of(*(st.sampled_from(pairs(d, include_default=include_default)) for d in DOMAINS))
