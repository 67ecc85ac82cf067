"""judges of pytest-llmtrust."""
