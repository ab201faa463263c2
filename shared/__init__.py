"""The routine core: framework-free, so the voice and the watch share one truth.

services.py holds what one app runs on (AppServices) and the one way a web app finds it.
"""
