"""EWS operations by name: each takes the request context and the request element, returns the response element."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ..context import RequestContext
from .folders import find_folder, get_folder

Operation = Callable[[RequestContext, etree._Element], etree._Element]

OPERATIONS: dict[str, Operation] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
}
