"""The supporter console page and its login.

The page is a shell: queue, offers, chats and presence all travel over the
console WebSocket (docs/protocol.md). What the page embeds is read through
selectors scoped to the supporter's own providers.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from helpdesk import console_labels, selectors, serializers


@require_safe
@login_required
@ensure_csrf_cookie
def console(request):
    supporter = selectors.supporter_for_user(request.user)
    if supporter is None:
        return render(request, "helpdesk/console_forbidden.html", status=403)
    canned = selectors.canned_replies_for(supporter=supporter)
    targets = selectors.transfer_targets(supporter=supporter)
    topics = selectors.topic_tree()
    context = {
        "supporter": supporter,
        "providers": supporter.providers.all(),
        "console_data": {
            "supporter": {
                "id": supporter.pk,
                "display_name": supporter.display_name,
                "kind": supporter.kind,
                "presence": supporter.presence,
            },
            "canned_replies": serializers.CannedReplySerializer(canned, many=True).data,
            "transfer_targets": serializers.TransferTargetsSerializer(targets).data,
            "topics": topics,
            "outcomes": console_labels.outcomes(),
            "labels": console_labels.labels(topics=topics),
            "transfer_groups": console_labels.transfer_groups(targets, me=supporter),
        },
    }
    return render(request, "helpdesk/console.html", context)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "/console/login/"
