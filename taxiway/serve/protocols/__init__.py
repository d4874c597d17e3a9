"""The protocols other tools' clients speak, each turned into rows for the one batch path."""
