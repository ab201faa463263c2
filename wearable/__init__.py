"""The watch side: the watch API (api/), the web face it serves (face/), and a reference watch
in Python (client/) that uses nothing but the documented API."""
