"""The watch API the server answers, under /api/v1 (docs/WATCH_API.md, OpenAPI at openapi.json).

- contract.py: every request and answer body as a typed model, the one source of the checks,
  the answers and the OpenAPI document's schemas
- routes.py: the blueprint and init_wearable, which the app factory calls; services.py: the
  one way its views reach the app's services
- auth.py: bearer tokens; problems.py: RFC 9457 problem answers
- cue_payload.py: a run as the watch reads it; long_poll.py: waiting for the next change
- actions.py: what the wrist may ask; tuning.py: what the face hears while tuning
- haptics.py: one pattern per cue, mapped onto each watch platform; openapi.py: the document
"""
