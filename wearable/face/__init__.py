"""The web watch face, served at /watch: a reference client that runs in a browser."""
