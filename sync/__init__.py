"""The sync engine. Its core (content, links, reconcile, guard, matching) is pure: plain data in, actions out.

No Django, no gateway, no I/O in the core, so it can be property-tested; see sync/README.md for the contract
the executor (Django models + mailbox gateway) must keep when it applies a plan.
"""
