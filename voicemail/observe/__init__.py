"""Observing the service: figures from the database (snapshot, hourly), the serving process's own state
(runtime), the Prometheus collectors and who may scrape them (access)."""
