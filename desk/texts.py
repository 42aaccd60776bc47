"""Everything the gateway itself says to customers, in both languages: one
catalogue, so a new string is added once with its translation beside it.

Each entry is a (Chinese, English) pair; `say(key, language)` picks one. The
bot's own answers live in Rasa's domain (bot/domain), also in both languages."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

Pair = tuple[str, str]

SYSTEM_TEXTS: dict[str, Pair] = {
    "queued": (
        "您已进入人工服务队列,前面还有 {ahead} 位客户,预计等待约 {wait}。",
        "You're in the queue for an agent: {ahead} customer(s) ahead of you, "
        "expected wait about {wait}.",
    ),
    "assigned": ("客服 {agent} 已接入,为您服务。", "{agent} has joined and will help you now."),
    "resolved": (
        "本次服务已结束,感谢您的耐心。如有其他问题,随时给我们留言。",
        "This conversation has been closed. Thank you! Write to us any time.",
    ),
    "rating_request": (
        "请为本次服务打分(1-5分,5分最满意)。",
        "How would you rate this conversation? (1–5, 5 is best)",
    ),
    "rating_thanks": ("感谢您的评价!", "Thank you for your feedback!"),
    "no_agents": (
        "抱歉,目前没有人工客服在线。我们可以在您方便的时间给您回电,您也可以继续等待。",
        "Sorry, no agent is available right now. We can call you back at a time that suits you, "
        "or you can keep waiting.",
    ),
    "after_hours": (
        "抱歉,现在不在人工服务时间({hours},北京时间)。我们可以在服务时间内给您回电。",
        "Sorry, our agents are available {hours} (China time). We can call you back then.",
    ),
    "queue_update": (
        "您现在排在第 {position} 位,预计等待约 {wait}。",
        "You're now number {position} in the queue, expected wait about {wait}.",
    ),
    "transferring": (
        "正在为您转接{team}的同事,请稍候。",
        "I'm passing you to a colleague in {team}. Please hold on.",
    ),
    "requeued": (
        "为您服务的客服连接中断,正在为您转接其他客服。",
        "Your agent has lost their connection, so I'm passing you to another agent.",
    ),
    "welcome": (
        "您好,欢迎来到健康险在线服务!您可以直接问我保单、理赔进度、理赔材料,或者说“转人工”。",
        "Hello, and welcome to our online service! Ask me about your policy, a claim's "
        'progress or the documents a claim needs, or say "agent" to reach a person.',
    ),
    "file_received": (
        "已收到您发送的文件,处理您的理赔或问题时我们会查看。",
        "Thank you, we've received your file and will look at it with your claim or question.",
    ),
    "callback_button": ("预约回电", "Call me back"),
    "wait_button": ("继续等待", "Keep waiting"),
    "leave_queue_button": ("不等了", "Stop waiting"),
    "callback_instead_button": ("改为预约回电", "Call me back instead"),
    "left_queue": (
        "好的,已为您取消排队。有需要随时给我留言。",
        "OK, you've left the queue. Write to us any time.",
    ),
    "left_queue_silent": (
        "您已离开,本次排队已取消。有需要随时给我留言。",
        "You left, so your place in the queue was given up. Write to us any time.",
    ),
    "bot_unavailable": (
        "智能客服暂时无法回复,正在为您转接人工客服。",
        "Our assistant can't answer right now, so I'm putting you through to an agent.",
    ),
}


# Why an inbound item was refused, as the customer hears it.
REFUSALS = {
    "empty": ("消息内容为空。", "The message is empty."),
    "too_long": ("消息太长了,请分几次发送。", "That message is too long; please split it up."),
    "rate_limited": (
        "您发送得太快了,请稍后再试。",
        "You're sending messages too quickly; please wait a moment.",
    ),
    "unsupported": (
        "抱歉,暂时只能处理文字和图片消息,请用文字描述您的问题。",
        "Sorry, I can only handle text and pictures for now; please describe it in words.",
    ),
    "malformed": ("消息格式有误。", "The message could not be read."),
    "too_many_sessions": (
        "您所在的网络刚刚打开了太多新会话,请一分钟后再试。",
        "Too many new chats were opened from your network just now; please try again in a minute.",
    ),
    "upload_quota": (
        "您发送的文件已达上限,请稍后再试,或在对话中验证身份后继续发送。",
        "You've reached the limit of files for now; please try again later, or verify your"
        " identity in the chat to send more.",
    ),
}


def language_of(value: str | None) -> str:
    """A supported language code, or the default."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def pick(pair: Pair, language: str) -> str:
    zh, en = pair
    return en if language == "en" else zh


def say(key: str, language: str, **values: object) -> str:
    """One of the catalogue's texts (the gateway's or the actions') in the customer's
    language, filled in."""
    pair = SYSTEM_TEXTS.get(key) or ACTION_TEXTS[key]
    text = pick(pair, language)
    return text.format(**values) if values else text


def wait_text(seconds: float, language: str) -> str:
    """An expected wait as a customer reads it: seconds under a minute, else minutes."""
    minutes = round(seconds / 60)
    if language == "en":
        return f"{max(1, round(seconds))} seconds" if minutes < 1 else f"{minutes} minute(s)"
    return f"{max(1, round(seconds))} 秒" if minutes < 1 else f"{minutes} 分钟"


def numbered_choice(number: int, title: str, language: str) -> str:
    """A button shown as text on a channel without buttons."""
    return f"Reply {number}: {title}" if language == "en" else f"回复 {number}:{title}"


def preferred(accept_language: str | None) -> str:
    """The language a browser asks for, before anyone has signed in."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("en"):
            return "en"
        if code.startswith("zh"):
            return "zh"
    return DEFAULT_LANGUAGE


class Catalogue:
    """A page's interface strings, kept as `<folder>/<language>/<part>.json` (one file
    per page or part, so each can be edited on its own). A key missing in English
    falls back to Chinese, then to the key itself."""

    def __init__(self, folder: Path):
        self.folder = folder

    @functools.cache  # noqa: B019 - one catalogue per folder, kept for the process
    def strings_of(self, language: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for path in sorted((self.folder / language).glob("*.json")):
            merged.update(json.loads(path.read_text(encoding="utf-8")))
        return merged

    def t(self, language: str, key: str, **values: Any) -> str:
        text = (
            self.strings_of(language_of(language)).get(key)
            or self.strings_of(DEFAULT_LANGUAGE).get(key)
            or key
        )
        return text.format(**values) if values else text

    def translator(self, language: str) -> Callable[..., str]:
        """`_("key", name=...)` for templates, bound to one language."""

        def _(key: str, **values: Any) -> str:
            return self.t(language, key, **values)

        return _

    def strings(self, language: str, prefix: str) -> dict[str, str]:
        """The strings a page's script needs (keys under `prefix`), with fallbacks."""
        chosen = {**self.strings_of(DEFAULT_LANGUAGE), **self.strings_of(language_of(language))}
        return {key: text for key, text in chosen.items() if key.startswith(prefix)}


# What the bot's actions compose themselves, beside the fixed answers in Rasa's
# domain: claim and policy summaries, document checklists, product terms, button
# titles. Each sentence is kept whole with named placeholders, so an action never
# branches on the language; values that are already bilingual data (stages, kinds,
# products.yml, claim_documents.yml) stay as pair tables beside their action.
ACTION_TEXTS: dict[str, Pair] = {
    # How a list reads inside a sentence.
    "list_separator": ("、", ", "),
    # Claims (bot/actions/claims.py), one line each.
    "claim_heading": (
        "理赔 {number}({kind},出险日期 {incident_date},{hospital}):{stage}。",
        "Claim {number} ({kind}, {incident_date}, {hospital}): {stage}.",
    ),
    "claim_amounts": (
        "申请金额 {claimed},核定金额 {approved},已赔付 {paid}。",
        "Claimed {claimed}, approved {approved}, paid {paid}.",
    ),
    "claim_progress": ("进度:{history}", "Progress: {history}"),
    "claim_documents_missing": ("还需补充:{documents}", "Still needed: {documents}"),
    "claim_documents_separator": (";", "; "),
    "claim_expected": ("预计 {date} 前处理完毕。", "Expected to be settled by {date}."),
    "claim_overdue": (
        "已超过预计处理时间({date}),如需催办请输入“转人工”。",
        'This is taking longer than expected ({date}); type "agent" and we will chase it for you.',
    ),
    "claim_rejection_reason": ("原因:{reason}", "Reason: {reason}"),
    # Policies (bot/actions/claims.py).
    "policy_summary": (
        "保单 {number}:{product}({kind}),{status}。"
        "保额 {sum_insured},年保费 {premium},"
        "保障期间 {start} 至 {end}。"
        "被保险人:{members}。",
        "Policy {number}: {product} ({kind}), {status}. "
        "Sum insured {sum_insured}, premium {premium} a year, "
        "{start} to {end}. "
        "Insured: {members}.",
    ),
    # Follows the summary directly, hence the English leading space.
    "policy_renewal": ("下次续费日 {date}。", " Next premium due {date}."),
    # Document checklists (bot/actions/documents.py): a heading, the numbered items, advice.
    "checklist_heading": ("{kind}理赔需要准备以下材料:", "For {kind} claims, please prepare:"),
    "checklist_advice": (
        "拍照或扫描件即可,在线申请理赔时上传。",
        "Photos or scans are fine; you can upload them when you file the claim online.",
    ),
    # Products (bot/actions/products.py): one term asked about, or a line of the overview.
    "product_term": ("{product}的{term}:{value}", "{product}, {term}: {value}"),
    "product_term_line": ("· {term}:{value}", "· {term}: {value}"),
    # Filing a claim (bot/actions/claim_filing.py); the form reads these titles back.
    "bank_keep_button": ("确认", "Yes, pay into it"),
    "bank_change_button": ("更换银行卡", "Use another card"),
    # Offers of a person (complaints, advance payment).
    "put_through_button": ("是,转人工", "Yes, put me through"),
    "talk_to_agent_button": ("转人工", "Talk to an agent"),
    "no_thanks_button": ("不用了", "No, thanks"),
    # Callbacks (bot/actions/callbacks.py).
    "today": ("今天", "today"),
    "tomorrow": ("明天", "tomorrow"),
    "day_after_tomorrow": ("后天", "the day after tomorrow"),
    "callback_on_file_button": ("本机 {mobile}", "My number {mobile}"),
    # How long verification is paused (bot/actions/verification.py).
    "wait_minutes": ("{minutes} 分钟", "{minutes} minute(s)"),
    "wait_hours": ("{hours} 小时", "{hours} hour(s)"),
}
