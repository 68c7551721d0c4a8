"""Calls as Twilio reports them: one row per CallSid, and an append-only log of every webhook."""
