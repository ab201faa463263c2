"""The voice side: an Alexa custom skill on ask-sdk-core, served by Flask at POST /alexa."""
