"""``manage.py move_backend --to graph --brokerage 3 7`` / ``--all-ews``: move brokerages, printing progress."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from backend_move.models import BackendMove
from backend_move.moving import BACKENDS, MoveRefused, request_move, run_move
from brokerages.models import Brokerage


class Command(BaseCommand):
    help = ("Move brokerages to another mailbox backend (verified first; ids translated per mailbox; resumable: "
            "running it again resumes an unfinished move). Prints each move's progress until all have ended.")

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=sorted(BACKENDS), dest="target")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--brokerage", type=int, nargs="+", metavar="ID")
        which.add_argument("--all-ews", action="store_true", help="every brokerage on EWS")
        which.add_argument("--all-graph", action="store_true", help="every brokerage on Microsoft Graph")
        parser.add_argument("--in-process", action="store_true",
                            help="run the moves here, one after another, instead of on the maintenance workers")
        parser.add_argument("--no-wait", action="store_true", help="queue the moves and return")
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between progress lines")

    def handle(self, *args, target, brokerage, all_ews, all_graph, in_process, no_wait, poll, **options):
        if brokerage:
            brokerages = list(Brokerage.objects.filter(pk__in=brokerage).order_by("pk"))
            missing = sorted(set(brokerage) - {b.pk for b in brokerages})
            if missing:
                raise CommandError(f"No brokerage with id {', '.join(map(str, missing))}.")
        else:
            backend = Brokerage.Backend.EWS if all_ews else Brokerage.Backend.GRAPH
            brokerages = list(Brokerage.objects.filter(mailbox_backend=backend).order_by("pk"))
        moves = []
        for each in brokerages:
            try:
                moves.append(request_move(each, target) if not in_process else _in_process(each, target))
            except MoveRefused as refused:
                self.stdout.write(f"skipped: {refused}")
        if no_wait or not moves:
            self.stdout.write(f"{len(moves)} move(s) queued.")
            return
        self._follow([m.pk for m in moves], poll)

    def _follow(self, ids: list[int], poll: float) -> None:
        while True:
            rows = list(BackendMove.objects.filter(pk__in=ids).select_related("brokerage").order_by("pk"))
            for move in rows:
                self.stdout.write(
                    f"{move.brokerage.name} (#{move.brokerage_id}) {move.source}→{move.target}: {move.state}, "
                    f"mailboxes {move.mailboxes_done}/{move.mailboxes_total}, ids translated {move.ids_translated}, "
                    f"gone {move.ids_gone}, emails {move.emails_translated}" + (f" — {move.error}" if move.error else ""))
            if all(m.state not in (BackendMove.State.QUEUED, BackendMove.State.RUNNING) for m in rows):
                failed = [m for m in rows if m.state != BackendMove.State.DONE]
                if failed:
                    raise CommandError(f"{len(failed)} of {len(rows)} move(s) did not finish; see above (run again to resume).")
                self.stdout.write(self.style.SUCCESS(f"{len(rows)} move(s) done."))
                return
            time.sleep(poll)


def _in_process(brokerage: Brokerage, target: str) -> BackendMove:
    move = request_move(brokerage, target)  # queues it too; the advisory lock lets only one runner work on it
    run_move(move.pk)
    return move
