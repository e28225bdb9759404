"""The mailbox gateway: one protocol-neutral way to talk to a mailbox (EWS today, Microsoft Graph later).

Knows nothing of Django models: callers hand it plain connection details and get plain data back.
"""
