"""The claims domain: aggregates, their events, domain errors and the use cases."""
