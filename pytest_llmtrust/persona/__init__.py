"""Persona bias ("Ask LLMs Directly", Shin et al. 2024) on BBQ-format data.

Named `persona` so that it never shadows the `bias` marker exported by the package.
"""
