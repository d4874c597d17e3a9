"""Continuous training: `taxiway ct run` retrains when the charter's triggers fire, judges the new model
against live on the same recent holdout and hands a better one to CD; `taxiway ct simulate` replays past
data to compare retraining policies before one runs in production."""
