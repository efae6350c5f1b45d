"""Staff actions: one flow per action, called alike by the console, the REST API and the CLI.

A flow takes the acting :class:`~surveys.accounts.access.Actor`, checks the permission, calls
the services and writes the audit row, in the caller's transaction (the edge commits).
"""
