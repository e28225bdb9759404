"""Microsoft Graph v1.0 over the simulator's one mail store (the same mailboxes EWS serves).

Layout. Resource modules expose ``ROUTES``, a list of ``wire.Route``; the others serve them.

Shared by every resource:
- ``wire.py``          the contract every handler shares: GraphRequest, GraphError, Route, json_response.
- ``endpoint.py``      ``/v1.0/...``: bearer token (Graph audience, application roles), ``/users/{id|upn}``
                       resolution, access policies, throttling and faults, ``$batch``, strict OpenAPI validation.
- ``batch.py``         ``POST /v1.0/$batch``.
- ``strict.py``        strict mode: bodies against ``openapi/openapi-subset.json``.
- ``throttle.py``      requests per window and concurrent requests per app per mailbox.
- ``ids.py``           immutable ids, ``translateExchangeIds`` (a resource module: its route is there).
- ``delta.py``         the opaque delta tokens every delta uses ($skiptoken / $deltatoken, 410 SyncStateNotFound).
- ``query_options.py`` $top / $skip paging and its nextLink, $select, option names in any case.
- ``world_state.py``   state kept beside a world, not persisted (delta snapshots, upload sessions).
- ``extended.py``      single-value extended properties: Graph ids <-> store keys, the body, $expand and $filter forms.

Contacts:
- ``contacts.py``      contact folders, contacts, contacts delta (routes).
- ``contact_fields.py`` contact JSON <-> store fields.

Calendar:
- ``calendar.py``         events, instances, calendarView and its delta, transactionId (routes).
- ``calendar_delta.py``   the calendarView delta rounds (what each deltaLink saw, per mailbox).
- ``event_fields.py``     event JSON <-> store fields.
- ``event_recurrence.py`` patternedRecurrence <-> the store's recurrence.
- ``event_times.py``      dateTimeTimeZone, Windows/IANA zones, the startDateTime/endDateTime window.
- ``event_instances.py``  what a calendar shows in a window: single events, occurrences, exceptions.
- ``event_ids.py``        ids of events and occurrences (and of removed ones).

Mail:
- ``mail.py``          drafts, reads, send, sendMail, attachments and upload sessions (routes).
- ``mail_sending.py``  what a send does: recipients check, send limit, the outbound log EWS writes too.
- ``message_fields.py`` message and attachment JSON <-> store fields.
- ``message_lookup.py`` mail folders by id or well-known name, messages by id.
- ``message_order.py`` $orderby of messages.
- ``uploads.py``       upload sessions: createUploadSession and the chunked PUTs of a large attachment.
"""
