"""Placeholder: commands arrive with their issue."""
