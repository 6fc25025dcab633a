"""Load runs: `plan` (what to send), `run` (sending it, acting a scenario on a sample), `verification`
(every ticket checked in the database while the run goes on)."""
