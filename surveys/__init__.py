"""The minyi domain: surveys, conversations, respondents and their storage."""
