"""Survey figures per unit and category: how units are judged (response, resolution, satisfaction).

Counted over surveys that ended in the period (`concluded_at`): a survey still being dialled has
no result yet, and a cancelled one (opted out, confidential, no number) was never placed.

- response rate: surveys where the caller answered at least one question, over surveys placed;
- per choice question (e.g. `resolved`, `satisfaction`): positive answers over answers given —
  resolution rate and satisfaction rate with the shipped survey (满意 and 基本满意 count as
  satisfied, as 12345 centres count them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from cases.models import Case
from surveys.definition import QuestionKind, Survey
from surveys.models import CaseSurvey, SurveyAnswer, SurveyOutcome, SurveyState

GroupBy = Literal["unit", "category", "both"]
ENDED = (SurveyState.COMPLETED, SurveyState.UNREACHABLE)


@dataclasses.dataclass
class Row:
    unit: str
    category: str
    placed: int = 0
    responded: int = 0
    unreachable: int = 0
    #: question id → (positive answers, answers)
    answers: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    @property
    def response_rate(self) -> float | None:
        return self.responded / self.placed if self.placed else None

    def rate(self, question: str) -> float | None:
        positive, total = self.answers.get(question, (0, 0))
        return positive / total if total else None


def survey_report(
    session: Session,
    survey: Survey,
    *,
    since: dt.datetime,
    until: dt.datetime,
    by: GroupBy = "both",
) -> list[Row]:
    """One row per unit and/or category, plus a last row `*`/`*` for everything."""
    unit = Case.unit_code if by != "category" else literal("*")
    category = Case.category if by != "unit" else literal("*")
    keys = [
        k for k, on in ((Case.unit_code, by != "category"), (Case.category, by != "unit")) if on
    ]
    period = (
        CaseSurvey.state.in_(ENDED),
        CaseSurvey.concluded_at >= since,
        CaseSurvey.concluded_at < until,
    )
    answered = (CaseSurvey.state == SurveyState.COMPLETED) & (
        CaseSurvey.outcome == SurveyOutcome.ANSWERED
    )
    counts = session.execute(
        select(
            unit,
            category,
            func.count(CaseSurvey.id),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((CaseSurvey.state == SurveyState.UNREACHABLE, 1), else_=0)),
        )
        .join(Case, Case.number == CaseSurvey.case_number)
        .where(*period)
        .group_by(*keys)
    ).all()
    rows: dict[tuple[str, str], Row] = {}
    total = Row("*", "*")
    for unit_code, category_id, placed, responded, unreachable in counts:
        row = rows.setdefault((unit_code or "-", category_id), Row(unit_code or "-", category_id))
        row.placed, row.responded, row.unreachable = placed, responded or 0, unreachable or 0
        total.placed += row.placed
        total.responded += row.responded
        total.unreachable += row.unreachable
    choice = [q.id for q in survey.questions if q.kind is QuestionKind.CHOICE]
    tallies = session.execute(
        select(
            unit,
            category,
            SurveyAnswer.question,
            func.sum(case((SurveyAnswer.positive.is_(True), 1), else_=0)),
            func.count(SurveyAnswer.id),
        )
        .join(CaseSurvey, CaseSurvey.id == SurveyAnswer.survey_id)
        .join(Case, Case.number == CaseSurvey.case_number)
        .where(*period, SurveyAnswer.question.in_(choice))
        .group_by(*keys, SurveyAnswer.question)
    ).all()
    for unit_code, category_id, question, positive, given in tallies:
        row = rows[(unit_code or "-", category_id)]
        row.answers[question] = (positive or 0, given)
        p, n = total.answers.get(question, (0, 0))
        total.answers[question] = (p + (positive or 0), n + given)
    return [*sorted(rows.values(), key=lambda r: (r.unit, r.category)), total]


def render(rows: list[Row], survey: Survey) -> str:
    """The report as an aligned text table."""
    questions = [q.id for q in survey.questions if q.kind is QuestionKind.CHOICE]
    header = ["unit", "category", "placed", "answered", "unreachable", "response"]
    header += [f"{q} +" for q in questions]
    table = [header]
    for row in rows:
        line = [row.unit, row.category, str(row.placed), str(row.responded), str(row.unreachable)]
        line.append(_percent(row.response_rate))
        for question in questions:
            positive, given = row.answers.get(question, (0, 0))
            line.append(f"{_percent(row.rate(question))} ({positive}/{given})")
        table.append(line)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
