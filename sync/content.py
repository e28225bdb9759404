"""The content of a contact or an event as plain frozen data, its stable hash, per-field digests and a diff.

Two contents are equal when their canonical forms are (sync.normalize): that is what "changed" means to the
sync engine, never a new change key alone.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sync.normalize import FIELDS, NORMALIZERS, ContentError, ItemKind

# Bump when a normalization rule changes: every stored hash then differs from a fresh one, and identical
# contents on both sides re-agree without a conflict (identical content is never a conflict).
CANONICAL_VERSION = 1

FieldDigests = Mapping[str, str]


# One encoder, built once: json.dumps with non-default options builds a new one on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_IMMUTABLE = (str, int, float, bool, type(None), dt.date)  # dt.datetime is a dt.date


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class Content:
    """What the user sees of one item: ``values`` as typed (written to the other side), compared canonically."""

    kind: ItemKind
    values: Mapping[str, Any] = field(repr=False)
    canonical: Mapping[str, Any] = field(repr=False)  # the compared form: matching keys are read from it
    field_digests: FieldDigests = field(repr=False)
    hash: str

    @classmethod
    def build(cls, kind: ItemKind | str, values: Mapping[str, Any]) -> Content:
        """Content of a ``kind`` from a field mapping (absent fields are empty); ContentError on unknown fields."""
        kind = ItemKind(kind)
        schema = FIELDS[kind]
        unknown = set(values) - set(schema)
        if unknown:
            raise ContentError(f"unknown {kind} fields: {', '.join(sorted(unknown))}")
        full = {}
        for name, default in schema.items():
            value = values.get(name, default)
            full[name] = value if isinstance(value, _IMMUTABLE) else copy.deepcopy(value)
        canonical = NORMALIZERS[kind](full)
        encoded = {name: _ENCODER.encode(canonical[name]) for name in schema}
        digests = {name: _sha256(text)[:16] for name, text in encoded.items()}
        # The same text json.dumps([kind, version, [fields...]]) gives, from the parts already encoded.
        whole = f"[{_ENCODER.encode(kind.value)},{CANONICAL_VERSION},[{','.join(encoded.values())}]]"
        content_hash = _sha256(whole)
        return cls(kind, MappingProxyType(full), MappingProxyType(canonical), MappingProxyType(digests), content_hash)

    @classmethod
    def contact(cls, **values: Any) -> Content:
        return cls.build(ItemKind.CONTACT, values)

    @classmethod
    def event(cls, **values: Any) -> Content:
        return cls.build(ItemKind.EVENT, values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Content) and other.kind == self.kind and other.hash == self.hash

    def __hash__(self) -> int:
        return hash((self.kind, self.hash))

    def as_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the values, for the executor to hand to a model or a gateway item."""
        return copy.deepcopy(dict(self.values))

    def replace(self, **values: Any) -> Content:
        """The same item with some fields set anew."""
        return Content.build(self.kind, {**self.values, **values})

    def taking(self, other: Content, names: Iterable[str]) -> Content:
        """This content with the named fields' values taken from ``other`` (the field-by-field merge)."""
        taken = set(names)
        return Content.build(self.kind, {name: (other if name in taken else self).values[name] for name in self.values})


def empty(kind: ItemKind | str) -> Content:
    """The content with every field at its empty value: what "this side has nothing here" looks like."""
    return _EMPTY[ItemKind(kind)]


def diff(before: Content, after: Content) -> frozenset[str]:
    """The fields whose canonical value differs between two contents of one kind."""
    return changed_since(before.field_digests, after)


def changed_since(base: FieldDigests, content: Content) -> frozenset[str]:
    """The fields of ``content`` that differ from an agreed state known only by its field digests."""
    return frozenset(name for name, digest in content.field_digests.items() if base.get(name) != digest)


_EMPTY = {kind: Content.build(kind, {}) for kind in ItemKind}
