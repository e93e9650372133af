"""Replays for many contacts at once: what a reconnecting console asks for.

`messages.replay` reads one contact in two queries; a console serving ten
contacts would pay twenty, and when every console of a restarted worker comes
back at once that multiplies. Here the same answer for any number of contacts
costs two queries: every contact's last number first, then their messages
(one, when the caller has just read the contacts' rows).
"""

from __future__ import annotations

from django.db.models import Q

from helpdesk.models import Contact, Message
from helpdesk.services.messages import Replay, message_to_dict

__all__ = ["replay_many"]


def replay_many(
    *, after: dict[int, int], for_customer: bool, next_seqs: dict[int, int] | None = None
) -> dict[int, Replay]:
    """contact pk -> seq already seen  =>  contact pk -> Replay (as `messages.replay`).

    Each `last_seq` is read before the messages, so, as for one contact, every
    message up to it is committed and a socket that drops notifications with
    `seq <= last_seq` loses and repeats nothing. Unknown contacts are left out.
    `next_seqs` (contact pk -> next_seq) are the contacts' rows as the caller
    has just read them: that read then counts as the one before, one query fewer.
    """
    if not after:
        return {}
    if next_seqs is not None:
        last = {pk: next_seqs[pk] - 1 for pk in after if pk in next_seqs}
    else:
        rows = Contact.objects.filter(pk__in=list(after)).values_list("pk", "next_seq")
        last = {pk: next_seq - 1 for pk, next_seq in rows}
    wanted = Q()
    for pk, last_seq in last.items():
        seen = max(after.get(pk, 0), 0)
        if last_seq > seen:
            wanted |= Q(contact_id=pk, seq__gt=seen, seq__lte=last_seq)
    messages: dict[int, list] = {pk: [] for pk in last}
    if wanted:
        rows = Message.objects.filter(wanted)
        if for_customer:
            rows = rows.exclude(kind=Message.Kind.NOTE)
        columns = ("seq", "author_kind", "author_name", "kind", "body", "payload", "created_at")
        for pk, *fields in rows.order_by("contact_id", "seq").values_list("contact_id", *columns):
            seq, author_kind, author_name, kind, body, payload, created_at = fields
            messages[pk].append(
                message_to_dict(
                    seq=seq,
                    author_kind=author_kind,
                    author_name=author_name,
                    kind=kind,
                    body=body,
                    payload=payload,
                    created_at=created_at,
                )
            )
    return {pk: Replay(last_seq=last[pk], messages=messages[pk]) for pk in last}
