"""Celery workers: the custody and notification tasks, the beat schedule and the sweeper."""
