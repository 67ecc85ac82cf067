"""AlignEZ-style representation steering: find helpful/harmful directions and edit activations with them.

Modules (each imports torch, so import them explicitly; this package itself stays import-cheap):
    ``directions``: pair filtering, SVD / mean-difference / CCS directions, per-query filter, layer selection.
    ``edit``: the activation edit ``x ← x + α·σ(⟨x, θ⟩)·θ`` applied at inference.
"""
