"""Celery tasks, one module per queue. Tasks are thin: ids in, reload, call domain code, map errors.

Routing is by module (settings.CELERY_TASK_ROUTES): a task in tasks/sync.py runs on the "sync" queue.
"""
