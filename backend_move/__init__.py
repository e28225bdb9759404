"""Moving a brokerage between mailbox backends (EWS ⇄ Microsoft Graph): runs, per-mailbox markers, the move itself."""
