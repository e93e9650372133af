"""Place a simulated phone call against a running server, to watch it arrive in the console.

    manage.py simulate_call --url http://127.0.0.1:8000 --from +358131234567 --digits 1,,1

The server must have the phone channel configured with the same auth token
(PHONE_DEMO=1 make serve sets demo credentials and points the REST client at
--rest-port, where this command answers as Twilio's API). The call waits in
the queue until a supporter connects it from the console, then "talks" for
--talk seconds and hangs up; Ctrl-C hangs up at any time.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.telephony.driver import (
    CallDriver,
    DialResult,
    HttpTransport,
    TwilioError,
    TwilioStandIn,
    serve_stand_in,
)


class Command(BaseCommand):
    help = "Place a simulated Twilio call against a running server."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server")
        parser.add_argument("--public-url", default="", help="its PUBLIC_BASE_URL, if different")
        parser.add_argument("--from", dest="from_number", default="+358131234567")
        parser.add_argument(
            "--digits",
            default="1",
            help="menu answers, comma-separated; an empty item is a timeout (e.g. 1,,2)",
        )
        parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait in queue")
        parser.add_argument("--talk", type=int, default=30, help="talk time once connected (s)")
        parser.add_argument("--rest-port", type=int, default=8001, help="port of the REST stand-in")

    def handle(self, *args, **options):
        token = settings.TWILIO_AUTH_TOKEN
        sid = settings.TWILIO_ACCOUNT_SID
        if not (token and sid and settings.TWILIO_PHONE_NUMBER):
            raise CommandError(
                "Set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER as the "
                "server has them (PHONE_DEMO=1 make serve uses the demo values)."
            )
        public = options["public_url"] or options["url"]
        driver = CallDriver(
            public_base_url=public,
            auth_token=token,
            account_sid=sid,
            platform_number=settings.TWILIO_PHONE_NUMBER,
            transport=HttpTransport(public, options["url"]),
        )
        stand_in = TwilioStandIn(driver)
        try:
            server, rest_url = serve_stand_in(stand_in, port=options["rest_port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on port {options['rest_port']}: {exc}") from exc
        digits = (
            [d.strip() or None for d in options["digits"].split(",")] if options["digits"] else []
        )

        def talk(kind, target, attrs):
            self.stdout.write(f"connected to the supporter ({kind}); talking {options['talk']} s")
            time.sleep(max(0, options["talk"]))
            return DialResult("completed", options["talk"])

        call = driver.call(options["from_number"], digits=digits, on_dial=talk)
        try:
            state = call.start()
            self.stdout.write(f"heard: {call.transcript()}")
            if state == "queued":
                self.stdout.write(
                    f"waiting in the queue (REST stand-in on {rest_url}); "
                    "accept the offer in the console and answer it"
                )
                state = call.wait_until_redirected(options["wait"], turn_s=2.0)
            if state != "completed":
                call.hang_up()
            self.stdout.write(self.style.SUCCESS(f"call {call.sid[-6:]} over: {call.transcript()}"))
        except TwilioError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            call.hang_up()
            self.stdout.write("hung up")
        finally:
            server.shutdown()
            server.server_close()
