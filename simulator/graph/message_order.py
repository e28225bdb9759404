"""The order of message lists: ``$orderby`` and the value each item sorts by (the other query options are shared:
``query_options.py`` for $top, $skip and $select, ``extended.py`` for the extended-property $filter and $expand)."""

from __future__ import annotations

from simulator.mailstore import Item

from .query_options import invalid_query

_ORDERABLE = {"receiveddatetime": "receivedDateTime", "sentdatetime": "sentDateTime",
              "createddatetime": "createdDateTime", "lastmodifieddatetime": "lastModifiedDateTime",
              "subject": "subject"}


def parse_orderby(text: str | None) -> tuple[str, bool]:
    """Return the property to sort by and whether descending (Graph's default: receivedDateTime desc)."""
    if text is None:
        return "receivedDateTime", True
    parts = text.split()
    if not parts or len(parts) > 2 or parts[0].lower() not in _ORDERABLE or \
            (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise invalid_query(f"$orderby '{text}' is not supported; order by receivedDateTime, sentDateTime, "
                            "createdDateTime, lastModifiedDateTime or subject, asc or desc.")
    return _ORDERABLE[parts[0].lower()], len(parts) == 2 and parts[1].lower() == "desc"


def sort_value(item: Item, key: str) -> str:
    """What a message sorts by for ``key`` (a ``parse_orderby`` property): ISO text, "" when it has none."""
    value = {"receivedDateTime": item.fields.get("sent_at") or item.created, "sentDateTime": item.fields.get("sent_at"),
             "createdDateTime": item.created, "lastModifiedDateTime": item.modified,
             "subject": item.fields.get("subject")}[key]
    return value if isinstance(value, str) else value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""
