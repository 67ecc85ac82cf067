"""Fuzzing: structure-aware Hypothesis generators for every user-facing input, and the oracle that judges them."""
