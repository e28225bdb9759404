"""The mailbox gateway on Microsoft Graph (``httpx`` + the shared MSAL token provider, Graph audience).

| module | what it holds |
|---|---|
| ``gateway.py`` | ``GraphGateway``: every ``MailboxGateway`` method over Graph's REST API |
| ``transport.py`` | one bounded ``httpx.Client`` per brokerage per process, bearer token, ``Prefer`` headers, ``$batch`` |
| ``classify.py`` | Graph answers and ``httpx`` exceptions → the neutral ``mailboxes.errors`` classes |
| ``contacts.py`` | our ``Contact`` ⇄ Graph contact JSON |
| ``events.py`` | our ``Event`` ⇄ Graph event JSON (times, all-day, attendees, ``patternedRecurrence``) |
| ``series.py`` | a series' cancelled and moved occurrences, read from and written to its instances |
| ``tags.py`` | our tag as a single-value extended property (the same MAPI property the EWS backend writes) |
"""
