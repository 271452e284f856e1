"""The web service: routers per resource, the run pool, the legacy step stream and the playground page."""
