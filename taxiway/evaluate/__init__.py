"""Evaluation: metrics, costs, and (in later stages) slices, calibration, bootstrap and gates."""
