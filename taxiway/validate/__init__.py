"""Validation: measure a trained run against its references, judge it by the gates, and bless it or not."""
