"""好差评: ratings (pushed, imported, given in chat), 办件 events, indicators, dashboard."""
