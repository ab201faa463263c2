"""Pairing a watch by a spoken code (after RFC 8628): codes, tokens and the limits on guessing."""
