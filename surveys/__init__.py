"""Callback surveys (回访): scheduled when a case is resolved, answered by the caller."""
