"""The benchmark behind `make bench`: the service under load next to the raw engine it runs on (a no-op Celery
task) and next to the synchronous design it replaces. See README "Performance"."""
