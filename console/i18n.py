"""The console's two languages: every visible string, in Mandarin and English."""

from __future__ import annotations

from flask import g, request, session

LANGUAGES = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("民生110 服务中心", "Minsheng Hotline service center"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "board": ("实时看板", "Live board"),
    "cases": ("工单", "Cases"),
    "roster": ("值班表", "Roster"),
    "figures": ("统计", "Figures"),
    "in_progress": ("通话中", "Calls in progress"),
    "last_hour": ("最近一小时", "Last hour"),
    "caller": ("来电", "Caller"),
    "branch": ("分支", "Branch"),
    "classification": ("分类", "Classification"),
    "answered_by": ("接听", "Answered by"),
    "duration": ("时长", "Duration"),
    "status": ("状态", "Status"),
    "started": ("开始", "Started"),
    "no_calls": ("暂无通话", "No calls"),
    "refreshing": ("每 3 秒自动刷新", "Refreshes every 3 s"),
    "number": ("工单号", "Number"),
    "state": ("状态", "State"),
    "category": ("类别", "Category"),
    "unit": ("承办单位", "Unit"),
    "due": ("办理时限", "Due"),
    "overdue": ("已超期", "Overdue"),
    "all": ("全部", "All"),
    "filter": ("筛选", "Filter"),
    "created": ("受理时间", "Received"),
    "timeline": ("办理过程", "Timeline"),
    "transcript": ("来电内容", "What the caller said"),
    "address": ("地址", "Address"),
    "filer": ("提交人", "Filed by"),
    "email": ("电子邮箱", "E-mail"),
    "coordinates": ("位置（地图）", "Location (map)"),
    "media": ("照片/附件", "Photo / attachment"),
    "recording": ("录音", "Recording"),
    "feedback": ("办理反馈", "Unit's feedback"),
    "survey": ("回访", "Callback survey"),
    "note": ("备注", "Note"),
    "act": ("办理", "Act"),
    "action.dispatch": ("派单 / 改派", "Dispatch / reassign"),
    "action.handle_on_spot": ("即办", "Handle on the spot"),
    "action.accept": ("签收", "Accept"),
    "action.start": ("开始办理", "Start"),
    "action.resolve": ("办结反馈", "Resolve"),
    "action.close": ("办结归档", "Close"),
    "action.reopen": ("重办", "Reopen"),
    "action.escalate": ("督办", "Escalate"),
    "action.receive": ("受理", "Received"),
    "action.remind": ("到期提醒", "Reminded"),
    "action.recategorize": ("更正类别", "Recategorized"),
    "done": ("已完成", "Done"),
    "state.received": ("已受理", "Received"),
    "state.handled_on_spot": ("即办", "Handled on the spot"),
    "state.dispatched": ("已派单", "Dispatched"),
    "state.accepted": ("已签收", "Accepted"),
    "state.in_progress": ("办理中", "In progress"),
    "state.resolved": ("已办结待回访", "Resolved, awaiting callback"),
    "state.closed": ("已归档", "Closed"),
    "state.reopened": ("重办", "Reopened"),
    "on_duty": ("当前在岗", "On duty now"),
    "nobody": ("无人在岗", "NOBODY"),
    "gaps": ("未来 7 天空档", "Coverage gaps, next 7 days"),
    "no_gaps": ("未来 7 天全部有人值守", "Every route is covered for the next 7 days"),
    "officers": ("值班人员", "Officers"),
    "available": ("可呼叫", "Available"),
    "unavailable": ("暂停呼叫", "Unavailable"),
    "toggle": ("切换", "Toggle"),
    "edit_roster": (
        "编辑值班表（YAML，整体校验后生效）",
        "Edit the roster (YAML, checked as a whole)",
    ),
    "save": ("保存", "Save"),
    "period": ("时段", "Period"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "show": ("查看", "Show"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "calls_per_hour": ("每小时来电", "Calls per hour"),
    "answer_times": ("紧急来电接通时间", "Emergency answer times"),
    "within_15s": ("15 秒内接通", "answered within 15 s"),
    "cases_by_category": ("按类别的工单", "Cases by category"),
    "cases_by_unit": ("按单位的工单", "Cases by unit"),
    "overdue_rate": ("超期率", "Overdue rate"),
    "survey_rates": (
        "回访：响应率 / 解决率 / 满意率",
        "Surveys: response / resolution / satisfaction",
    ),
    "complaints": ("服务商投诉", "Providers' complaints"),
    "placed": ("回访数", "Placed"),
    "response": ("响应率 %", "Response %"),
    "resolution": ("解决率 %", "Resolved %"),
    "satisfaction": ("满意率 %", "Satisfied %"),
    "none": ("无", "none"),
    "forbidden": ("无权访问", "Not allowed"),
    "back": ("返回", "Back"),
    "page": ("页", "Page"),
    "next": ("下一页", "Next"),
    "prev": ("上一页", "Previous"),
    "language": ("English", "中文"),
    "callbacks": ("回拨", "Call-backs"),
    "callbacks_open": ("待回拨", "To call back"),
    "callbacks_closed": ("最近已处理", "Recently closed"),
    "urgent_callbacks": (
        "紧急呼救中途挂断，待回拨",
        "Abandoned emergency calls waiting for a call-back",
    ),
    "callback.abandoned_bridge": ("呼救中途挂断", "Hung up while ringing"),
    "callback.abandoned_ivr": ("IVR中挂断", "Hung up in the IVR"),
    "callback.unanswered": ("无人接听（已留言）", "Nobody answered (message left)"),
    "when": ("时间", "When"),
    "kind": ("类型", "Kind"),
    "route": ("线路", "Route"),
    "route.desk": ("人工服务台", "Service desk"),
    "route.doubt": ("未能识别（可能紧急）", "Not understood (possibly urgent)"),
    "priority": ("优先级", "Priority"),
    "attempts": ("回拨次数", "Attempts"),
    "claimed_by": ("回拨人", "Taken by"),
    "claim": ("我来回拨", "I'll call back"),
    "claimed": ("已认领", "Taken"),
    "record_outcome": ("记录结果", "Record outcome"),
    "outcome": ("结果", "Outcome"),
    "outcome.reached": ("已联系上", "Reached"),
    "outcome.no_answer": ("无人接听", "No answer"),
    "outcome.wrong_number": ("号码错误", "Wrong number"),
    "outcome.not_needed": ("无需回拨", "Not needed"),
    "outcome.no_number": ("号码未显示", "No number"),
    "withheld": ("号码未显示", "Number withheld"),
    "no_answer_keeps_open": (
        "无人接听时保留任务，第 3 次仍无人接听才关闭",
        "No answer keeps the task open until the third attempt",
    ),
    "bridged_calls": ("转接结果（每通来电）", "Bridged calls, by how they ended"),
    "bridged.answered": ("已接通", "Answered"),
    "bridged.abandoned": ("来电人中途挂断", "Abandoned by the caller"),
    "bridged.unanswered": ("无人接听", "Nobody answered"),
    "abandon_rate": ("中途挂断率", "Abandon rate"),
}


def language() -> str:
    """The interface language: ?lang=…, else the session's, else the browser's."""
    if "lang" in g:
        chosen: str = g.lang
        return chosen
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
    lang = session.get("lang")
    if lang not in LANGUAGES:
        best = request.accept_languages.best_match(["zh", "en"])
        lang = best or "zh"
    g.lang = lang
    return str(lang)


def t(key: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[0] if language() == "zh" else pair[1]
