"""The HTTP adapter (FastAPI) and the command line, over the services in surveys/ and scoring/."""
