"""Continuous delivery: `taxiway cd run` takes a blessed version that beats live through shadow, canary and
live by the charter's ``[deploy.policy]``, one step per run, and rolls back on the evidence."""
