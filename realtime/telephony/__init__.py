"""The phone channel: Twilio Programmable Voice as an adapter on the routing service API.

twiml.py builds the caller's TwiML (pure), webhooks.py are the thin views
Twilio calls, signature.py checks their signatures, services.py changes state,
client.py is the one place that calls Twilio's REST API and driver.py stands in
for Twilio in tests and the demo. See README "Phone" and docs/architecture.md.
"""
