"""Microsoft Graph v1.0 over the simulator's one mail store (the same mailboxes EWS serves).

Layout (one module per resource; each exposes ``ROUTES``, a list of ``wire.Route``):
- ``wire.py``      the contract every handler shares: GraphRequest, GraphError, Route, json_response.
- ``endpoint.py``  ``/v1.0/...``: bearer token (Graph audience, application roles), ``/users/{id|upn}``
                   resolution, access policies, throttling and faults, ``$batch``, strict OpenAPI validation.
- ``ids.py``       immutable ids, ``translateExchangeIds``.
- ``delta.py``     the opaque delta tokens every delta uses ($skiptoken / $deltatoken, 410 SyncStateNotFound).
- ``extended.py``  single-value extended properties: Graph ids <-> store keys, $expand and $filter forms.
- ``batch.py``     ``POST /v1.0/$batch``.
- ``strict.py``    strict mode: bodies against ``openapi/openapi-subset.json``.
- ``throttle.py``  requests per window and concurrent requests per app per mailbox.
- ``contacts.py``  contact folders, contacts, contacts delta.
- ``calendar.py``  events, instances, calendarView delta, transactionId.
- ``mail.py``      drafts, send, sendMail, attachments and upload sessions, extended-property filters.
"""
