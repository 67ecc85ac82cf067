"""Persona bias ("Ask LLMs Directly", Shin et al. 2024) on BBQ-format data."""
