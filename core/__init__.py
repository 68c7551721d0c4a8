"""The small shared core: database base and sessions, webhook security, TwiML helpers, phones."""
