"""E-mail, in Swedish, that people act on: receipts, language review ready, reminders of
pieces not delivered (partners), a new draft (reviewers), a failed run (the coordinator).

- :mod:`~tasks.notify.messages` builds each message from plain data;
- :mod:`~tasks.notify.reminders`: due dates and which reminders are due on a day;
- :mod:`~tasks.notify.outbox`: the outbox in the outputs (``notify/``): once only, never lost;
- :mod:`~tasks.notify.smtp`: the one place that sends (settings and environment);
- :mod:`~tasks.notify.run`: what a run sends after the intake, after a build, after a failure.
"""
