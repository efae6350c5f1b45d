"""Scoring: folds the 民意调查 component into the half-year evaluation (built in a later issue)."""
