"""metrics of pytest-llmtrust."""
