"""Who will help a queued contact, said in words a customer understands.

The customer's page names the provider or region its contact is queued for
(after a transfer, an escalation, or simply while waiting); this module turns
a contact's pins and region into that small, customer-safe description. It
never names a supporter: a transfer to a person says only which provider they
belong to.
"""

from __future__ import annotations

from helpdesk.models import Contact, Provider, Region

# Kinds of target the customer page knows how to describe.
NATIONAL = "national"
PROVIDER = "provider"
REGION = "region"


def _provider(provider: Provider) -> dict:
    return {
        "kind": NATIONAL if provider.is_national else PROVIDER,
        "name": provider.name,
    }


def helper_for(contact: Contact) -> dict | None:
    """The provider or region that will serve `contact` next, or None if unknown."""
    language = contact.language or "fi"
    if contact.pinned_provider_id:
        provider = Provider.objects.filter(pk=contact.pinned_provider_id).first()
        if provider is not None:
            return _provider(provider)
    if contact.pinned_supporter_id:
        provider = (
            Provider.objects.filter(supporters__pk=contact.pinned_supporter_id)
            .order_by("is_national", "pk")
            .first()
        )
        if provider is not None:
            return _provider(provider)
    if contact.region_id:
        region = contact.region
        return {"kind": REGION, "name": region.localized_name(language)}
    return None


def target_of_event(kind: str, data: dict, language: str) -> dict | None:
    """Who a stored `transferred` or `escalated` event sent the contact to, as `helper_for` says it.

    Read from the ids the event recorded, so a page reloaded later names the
    same provider or region the live `contact.state` frame named.
    """
    data = data if isinstance(data, dict) else {}
    if kind == "escalated":
        provider = Provider.objects.filter(pk=data.get("to_provider")).first()
        return _provider(provider) if provider else {"kind": NATIONAL, "name": ""}
    if data.get("to_provider"):
        provider = Provider.objects.filter(pk=data["to_provider"]).first()
        return _provider(provider) if provider else None
    if data.get("to_supporter"):
        provider = (
            Provider.objects.filter(supporters__pk=data["to_supporter"])
            .order_by("is_national", "pk")
            .first()
        )
        return _provider(provider) if provider else None
    if data.get("to_region"):
        region = Region.objects.filter(code=data["to_region"]).first()
        if region is not None:
            return {"kind": REGION, "name": region.localized_name(language)}
    return None
