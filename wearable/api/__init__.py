"""The watch API the server answers: pairing, cues, long polls, actions and tuning."""
