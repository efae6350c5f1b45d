"""The 差评 loop (domain.md §3): cases, deadlines in working days, relay, staff notices."""
