"""Reports of a run: the JSON results document, the HTML report, baselines and the JUnit layout."""
