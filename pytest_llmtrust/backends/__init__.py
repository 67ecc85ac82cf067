"""backends of pytest-llmtrust."""
