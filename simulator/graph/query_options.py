"""The OData query options every Graph collection reads the same way: ``$top``/``$skip`` paging with its
``@odata.nextLink``, ``$select``, and option names in any case (``$TOP`` is ``$top``).

Resource-specific options live with their resource: the extended-property ``$filter`` and ``$expand`` in
``extended.py`` (contacts, events and messages), ``$orderby`` of messages in ``message_order.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from .wire import GraphError, GraphRequest

MAX_TOP = 1000  # Graph's largest page of contacts, events or messages
DEFAULT_TOP = 10  # Graph's page size for a collection when the client asks for none

T = TypeVar("T")


def invalid_query(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def option(request: GraphRequest, name: str) -> str | None:
    """The value of a query option, its name matched in any case (``name`` in lower case)."""
    return next((value for key, value in request.query.items() if key.lower() == name), None)


def parse_count(text: str | None, name: str, default: int, maximum: int | None) -> int:
    """Return a $top/$skip value, or raise 400 for one that is not a non-negative integer in range."""
    if text is None:
        return default
    if not text.strip().isdigit() or (maximum is not None and not 0 < int(text) <= maximum):
        bound = f" between 1 and {maximum}" if maximum else ""
        raise invalid_query(f"Invalid value '{text}' for query option {name}: expected an integer{bound}.")
    return int(text)


def page_bounds(request: GraphRequest, default: int = DEFAULT_TOP) -> tuple[int, int]:
    """(skip, top) of a collection request: ``$top``, else ``Prefer: odata.maxpagesize`` (echoed in
    Preference-Applied), else ``default``; 400 for a malformed or out-of-range value."""
    top_text = option(request, "$top")
    top = parse_count(top_text, "$top", 0, MAX_TOP) if top_text is not None else preferred_page_size(request, default)
    return parse_count(option(request, "$skip"), "$skip", 0, None), top


def preferred_page_size(request: GraphRequest, default: int) -> int:
    """``Prefer: odata.maxpagesize`` (at most MAX_TOP, echoed in Preference-Applied), else ``default``: the page
    size of a collection without ``$top`` and of every delta page."""
    if request.prefer.max_page_size is None:
        return default
    size = max(1, min(request.prefer.max_page_size, MAX_TOP))
    request.prefer.applied.append(f"odata.maxpagesize={size}")
    return size


def paged(request: GraphRequest, items: Sequence[T], default: int = DEFAULT_TOP,
          path: str | None = None) -> tuple[Sequence[T], dict[str, Any]]:
    """One page of ``items`` by ``$skip``/``$top`` and, when more follow, ``{"@odata.nextLink": ...}``: the same
    query with the next ``$skip`` (for ``path``, default this request's)."""
    skip, top = page_bounds(request, default)
    more = {"@odata.nextLink": next_link(request, skip + top, path)} if skip + top < len(items) else {}
    return items[skip:skip + top], more


def next_link(request: GraphRequest, skip: int, path: str | None = None) -> str:
    """This request's URL with ``$skip`` set, encoded as Graph writes it (``%24skip=10``)."""
    query = {key: value for key, value in request.query.items() if key.lower() != "$skip"}
    encoded = urlencode({**query, "$skip": str(skip)}, quote_via=quote, safe="'(),:=/")
    return request.url(request.path if path is None else path, encoded)


def parse_select(text: str | None, known: Iterable[str], type_name: str) -> frozenset[str] | None:
    """The properties a ``$select`` names, in the type's spelling (names match in any case); None without one;
    Graph's 400 for a name the type does not have."""
    if text is None:
        return None
    by_lower = {name.lower(): name for name in known}
    selected = set()
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if name.lower() not in by_lower:
            raise GraphError(400, "RequestBroker--ParseUri",
                             f"Could not find a property named '{name}' on type '{type_name}'.")
        selected.add(by_lower[name.lower()])
    return frozenset(selected)
