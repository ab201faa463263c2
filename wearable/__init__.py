"""The watch side: pairing, cue polling, haptic patterns and reference watch faces."""
