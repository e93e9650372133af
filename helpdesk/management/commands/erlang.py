"""Staffing for one interval by Erlang C (or Erlang A with --patience-s): helpdesk/stats/erlang.py.

Prints the service around the answer (one agent fewer and more) and, as the
last line, ``erlang agents=<n> service_level=<x> asa_s=<x> occupancy=<x>``.
"""

from django.core.management.base import BaseCommand, CommandError

from helpdesk.stats.erlang import service_at, staffing


class Command(BaseCommand):
    help = (
        "Supporters needed so that a share of the contacts is answered within a time "
        "(Erlang C; Erlang A when --patience-s is given)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=float, required=True, help="arrivals in the interval")
        parser.add_argument("--interval-s", type=float, default=1800.0, help="interval length, s")
        parser.add_argument("--aht-s", type=float, required=True, help="average handle time, s")
        parser.add_argument(
            "--target-sl", type=float, default=0.8, help="share answered in time (0-1)"
        )
        parser.add_argument("--answer-s", type=float, default=60.0, help="answer within, s")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="contacts one supporter serves at once"
        )
        parser.add_argument(
            "--patience-s", type=float, default=None, help="mean patience, s (Erlang A)"
        )
        parser.add_argument(
            "--max-occupancy", type=float, default=None, help="cap on the busy share (0-1)"
        )

    def handle(self, *args, **options):
        params = {
            "arrivals": options["calls"],
            "interval_s": options["interval_s"],
            "aht_s": options["aht_s"],
            "target_sl": options["target_sl"],
            "answer_s": options["answer_s"],
            "concurrency": options["concurrency"],
            "patience_s": options["patience_s"],
            "max_occupancy": options["max_occupancy"],
        }
        try:
            result = staffing(**params)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        model = "Erlang C" if params["patience_s"] is None else "Erlang A"
        traffic = params["arrivals"] * params["aht_s"] / params["interval_s"]
        self.stdout.write(
            f"{model}: {params['arrivals']:g} contacts in {params['interval_s']:g} s, "
            f"handle time {params['aht_s']:g} s, traffic {traffic:.3f} erlangs, "
            f"target {params['target_sl']:.0%} within {params['answer_s']:g} s"
        )
        self.stdout.write(
            f"{'agents':>7} {'service level':>13} {'asa s':>9} {'occupancy':>9} {'abandoned':>9}"
        )
        for agents in range(max(0, result.agents - 2), result.agents + 3):
            if agents == result.agents:
                row = result
            else:
                fixed = {k: v for k, v in params.items() if k not in ("target_sl", "max_occupancy")}
                row = service_at(agents=agents, **fixed)
            mark = " <" if agents == result.agents else ""
            self.stdout.write(
                f"{agents:>7} {row.service_level:>13.4f} {row.asa_s:>9.3f} "
                f"{row.occupancy:>9.4f} {row.abandonment:>9.4f}{mark}"
            )
        self.stdout.write(
            f"erlang agents={result.agents} service_level={result.service_level:.4f} "
            f"asa_s={result.asa_s:.3f} occupancy={result.occupancy:.4f}"
        )
