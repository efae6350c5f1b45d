"""Surveys: the survey files, the pure conversation engine, respondents, results and exports."""
