"""The eight evaluation studies of the Trustworthy-LLM survey, as built-in suite kinds.

``run_study("hallucination", llm)`` runs one from Python; ``kind: hallucination`` in a
``*.llmtrust.yaml`` file runs it as test items, one per expectation.
"""
