"""Duty rosters and bridging emergency callers to on-duty officers (issue 4)."""
