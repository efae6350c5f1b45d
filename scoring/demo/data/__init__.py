"""Demo monitoring score files (see scoring.demo_data)."""
