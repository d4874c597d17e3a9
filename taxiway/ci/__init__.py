"""Continuous integration: `taxiway test` (every kind of test, one exit code, one JUnit report), the CI files
`taxiway ci init` writes, and `taxiway ci run`, whose ``ci.check`` evidence is bound to a commit."""
