"""Measuring tools every stage uses: metrics, predictions, scores, costs, bootstrap, calibration."""
