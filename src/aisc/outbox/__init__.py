"""The notification outbox: messages written in the transaction that decides them, delivered
after it commits.

A service that decides to tell someone something (a burn alert, a password reset link) writes
an ``OutboxMessage`` in its own transaction (``service.enqueue``): if that transaction rolls
back, nothing was queued and nothing is sent. The delivery worker (``worker.deliver_due``: the
server's background loop every few seconds, or ``aisc outbox deliver``) claims due messages in
a short transaction, sends them outside any transaction through the deployment's mailer and
records the outcome in another. Delivery is at least once: a worker that dies between sending
and recording leaves the claim to lapse, and the message is sent again (the file channel and
the SMTP headers carry the message's id, so a duplicate can be recognised).
"""
