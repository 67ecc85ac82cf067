"""suite of pytest-llmtrust."""
