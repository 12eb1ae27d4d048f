"""The notifier: a JetStream consumer of the ticket events the relay publishes, which tells
people what happened by WhatsApp, SMS, email and webhooks, once (README, Notifications).

`consumer` reads the events and records what each one should send (`planning`); `sender` sends
what is recorded and due, by `channels`, `mail` and `webhooks`, retrying with `backoff` and
dead-lettering to DOCKET_NOTIFY_DLQ (`dead_letters`); `store` is its SQL; `role` runs it all as
`docket notifier` and `docket notifier --sensitive`; `cli` has `docket notifications ...`.
"""
