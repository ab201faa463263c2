"""Demo and test tools: the demos, a demo CA, an Alexa simulator that signs envelopes."""
