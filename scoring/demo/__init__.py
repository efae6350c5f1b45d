"""Demo data for a fresh install: the units, the survey, a year of activity and the imported
components. Only ``minyi demo`` and the tests use it; production code never imports it."""
