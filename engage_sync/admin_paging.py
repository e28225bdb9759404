"""Paging for admin lists over tables that grow with the fleet (sync runs, outgoing emails).

Django's paginator counts the whole result (``SELECT count(*)``) on every page; over millions of rows that alone
takes seconds. This one never counts more than COUNT_CAP + 1 rows.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

COUNT_CAP = 10_000  # a filtered list counts at most this many rows and says "10,000+" beyond


class CappedCountPaginator(Paginator):
    """Counts cheaply: the planner's row estimate for the whole table, a count capped at COUNT_CAP + 1 otherwise.

    The last page number is then approximate for huge results; staff narrow with filters, never page to 5000.
    """

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [query.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:  # small tables (and never-analysed ones, -1) get an exact count
                return int(row[0])
        # Unordered: counting needs no sort, and without one PostgreSQL can stop after COUNT_CAP + 1 rows of any
        # index on the filtered column (0.4 s → 2 ms for one error class of 2 million sync runs).
        return self.object_list.order_by()[: COUNT_CAP + 1].count()
