"""The reference watch in Python: talks to the watch API by its documented contract only."""
