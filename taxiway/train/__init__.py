"""Training: baselines, the candidate, tracking, tuning, reproduction."""
