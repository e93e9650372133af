"""The two workflows every installation needs, created idempotently.

The default workflow is used by every region without its own; the national
first-line workflow by contacts whose municipality is unknown (no regional
provider can be chosen for them). The steps mirror routing.types.DEFAULT_STEPS
and NATIONAL_FIRST_LINE_STEPS so the engine's fallback and the database agree.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from routing import types
from routing.models import StepTarget, Workflow, WorkflowStep

DEFAULT_NAME = "Oletus: maakunta → kehittämisalue → Kansalaisneuvonta"
NATIONAL_NAME = "Valtakunnallinen ensilinja (kunta tuntematon)"


def _create_steps(workflow: Workflow, steps: tuple[types.Step, ...]) -> None:
    WorkflowStep.objects.bulk_create(
        WorkflowStep(
            workflow=workflow,
            order=index,
            target=StepTarget(step.target),
            require_language=step.require_language,
            require_topic=step.require_topic,
            timeout_s=step.timeout_s,
        )
        for index, step in enumerate(steps)
    )


def _ensure(flag: str, name: str, steps: tuple[types.Step, ...]) -> Workflow:
    existing = Workflow.objects.filter(**{flag: True}).first()
    if existing is not None:
        return existing
    try:
        # A savepoint: two processes starting at once both try; the partial
        # unique constraint lets one win and the other reads the winner's row.
        with transaction.atomic():
            workflow = Workflow.objects.create(name=name, **{flag: True})
            _create_steps(workflow, steps)
            return workflow
    except IntegrityError:
        return Workflow.objects.get(**{flag: True})


def ensure_default_workflows() -> tuple[Workflow, Workflow]:
    """Create (once) and return the default and the national first-line workflows."""
    default = _ensure("is_default", DEFAULT_NAME, types.DEFAULT_STEPS)
    national = _ensure("is_national_first_line", NATIONAL_NAME, types.NATIONAL_FIRST_LINE_STEPS)
    return default, national
