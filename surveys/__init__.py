"""The minyi domain, by feature: ``core`` (settings, database, clock, periods, messages,
errors), ``questionnaire`` (surveys and their engine), ``haochaping`` (好差评 ratings),
``cases`` (the 差评 loop), ``accounts`` (units, staff, tokens, audit) and ``flows`` (one
function per staff action, shared by the console, the REST API and the CLI)."""
