"""Who acts: units, staff accounts and roles, API tokens, bot-linked staff, the audit log."""
