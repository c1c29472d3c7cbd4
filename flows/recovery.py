"""When a worker dies in the middle of a run: Prefect notices and runs it again, by itself.

Prefect automations (made by ``python3 dev.py stack up``, or ``python -m flows.recovery``
against any server; they only touch flow runs tagged ``utkast``):

1. **Silent runs are crashed.** A flow run started by a worker sends a heartbeat event
   (``prefect.flow-run.heartbeat``) every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (the
   stack sets :data:`HEARTBEAT_SECONDS` on its workers; Prefect's default is 180). A proactive
   trigger expects, after it starts running and after each heartbeat, another heartbeat or a
   final state within :data:`SILENCE_SECONDS`; when neither comes (the machine, the worker or
   the run's process was killed), the run is set to *Crashed*. This is Prefect's own recipe for
   "zombie" runs, plus the Running event so that a run killed before its first heartbeat is
   found too. A run a worker took but never started (*Pending* for :data:`STUCK_SECONDS`) is
   crashed the same way.
2. **Crashed runs are started again.** On ``prefect.flow-run.Crashed`` the same flow run is set
   to *AwaitingRetry* (a Scheduled state): exactly what the UI's *Retry* button does. Any
   worker of the pool then takes it; it keeps its id, parameters and history, and its
   persisted conversion results are found again (the tasks show as *Cached*).

A run that keeps crashing is not started for ever: :func:`refuse_endless_restarts`, called at
the start of each flow, fails a run that has been started :data:`MAX_STARTS` times (a failed
run is not restarted; the coordinator sees why in its log).
"""

from __future__ import annotations

from datetime import timedelta

HEARTBEAT_SECONDS = 30  # Prefect's minimum
# Two heartbeat periods: one heartbeat lost or late is tolerated, a second is not. A dead run is
# crashed 30-60 s after it died (90 s, three periods, made the upload-to-verdict time of files
# waiting behind a killed intake miss its 90 s). The cost: a live run whose heartbeat is more than
# 30 s late (a machine swapping or suspended) is crashed and started again; the new attempt waits
# for the live one's lock in the outputs and then finds its work done (conversions and reviews
# are kept per file), so nothing is lost or done twice, but the run's history shows a crash. The
# load test reports the largest heartbeat gap it saw and fails when a live run was crashed.
SILENCE_SECONDS = 2 * HEARTBEAT_SECONDS
MAX_STARTS = 3
TAG = "utkast"
CRASH_SILENT = "utkast: crash runs whose heartbeat stopped"
CRASH_STUCK = "utkast: crash runs a worker took but never started"
STUCK_SECONDS = 300  # from Pending to Running takes seconds; a worker that died leaves it Pending
RESTART_CRASHED = "utkast: start crashed runs again"


class TooManyStarts(RuntimeError):
    """A run that crashed again and again: not started once more."""


def automations() -> list:
    """The two automations (Prefect ``Automation`` objects, not yet saved)."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    ours = ResourceSpecification({"prefect.resource.id": f"prefect.tag.{TAG}", "prefect.resource.role": "tag"})
    runs = ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"})
    crash_silent = Automation(
        name=CRASH_SILENT,
        description="A flow run of utkast that stopped sending heartbeats (its worker or machine died) "
                    "is marked Crashed.",
        trigger=EventTrigger(
            match=runs, match_related=ours, for_each={"prefect.resource.id"},
            # After Running too: a run killed before its first heartbeat reached the server
            # (the server itself sends the Running event) is found all the same.
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            posture=Posture.Proactive, threshold=1, within=timedelta(seconds=SILENCE_SECONDS)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"No heartbeat for {SILENCE_SECONDS} s: the worker or its machine stopped.")],
    )
    restart_crashed = Automation(
        name=RESTART_CRASHED,
        description="A crashed flow run of utkast is scheduled again (like the Retry button); "
                    "any worker of the pool takes it.",
        trigger=EventTrigger(
            match=runs, match_related=ours, for_each={"prefect.resource.id"},
            expect={"prefect.flow-run.Crashed"}, posture=Posture.Reactive, threshold=1,
            within=timedelta(0)),
        actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                                    message="Started again after a crash (utkast recovery automation).")],
    )
    crash_stuck = Automation(
        name=CRASH_STUCK,
        description="A flow run of utkast that a worker took (Pending) but never started within "
                    f"{STUCK_SECONDS} s (the worker died first) is marked Crashed.",
        trigger=EventTrigger(
            match=runs, match_related=ours, for_each={"prefect.resource.id"},
            after={"prefect.flow-run.Pending"},
            expect={"prefect.flow-run.Running", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed", "prefect.flow-run.Scheduled",
                    "prefect.flow-run.AwaitingRetry", "prefect.flow-run.AwaitingConcurrencySlot"},
            posture=Posture.Proactive, threshold=1, within=timedelta(seconds=STUCK_SECONDS)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"Not started {STUCK_SECONDS} s after a worker took it: the worker stopped.")],
    )
    return [crash_silent, crash_stuck, restart_crashed]


def ensure_automations() -> list[str]:
    """Create the automations on the server of ``PREFECT_API_URL``, replacing earlier
    versions of the same name; returns their names."""
    from prefect.client.orchestration import get_client

    made = []
    with get_client(sync_client=True) as client:
        for automation in automations():
            for old in client.read_automations_by_name(automation.name):
                client.delete_automation(old.id)
            automation.create()
            made.append(automation.name)
    return made


def refuse_endless_restarts() -> None:
    """Fail the current flow run if it has already been started :data:`MAX_STARTS` times."""
    from prefect.runtime import flow_run

    count = flow_run.run_count or 0
    if count > MAX_STARTS:
        raise TooManyStarts(f"this run has been started {count} times (it crashed each time); "
                            "not started again: look at the earlier attempts' logs")


if __name__ == "__main__":
    for name in ensure_automations():
        print(f"automation: {name}")
