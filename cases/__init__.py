"""Service cases: the closed loop 受理 → 即办/转办 → 督办 → 反馈 → 回访 → 办结 (and 重办).

`workflow` (states and legal transitions) and `deadlines` (time limits in working days) are
pure; `units` reads the units that receive cases from `config/units.yaml`; `models` holds the
tables, `service` the reads and writes (they flush, never commit), `cli` the operator commands.
"""
