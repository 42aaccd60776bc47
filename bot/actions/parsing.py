"""Values customers type into forms, in either language: dates, amounts, mobile
numbers and callback windows. Pure functions, no I/O."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"

RELATIVE_DAYS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "后天": 2,
    "day before yesterday": -2,
    "yesterday": -1,
    "today": 0,
    "tonight": 0,
    "tomorrow": 1,
    "day after tomorrow": 2,
}

# Years named relative to this one; 今年 (0) is left to the usual reading.
YEAR_WORDS = {"前年": -2, "去年": -1, "明年": 1, "后年": 2, "last year": -1, "next year": 1}


def year_shift(text: str) -> int | None:
    return next((shift for words, shift in YEAR_WORDS.items() if words in text), None)


CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _without_year(
    month: int, day: int, today: date, future: bool = False, shift: int | None = None
) -> date | None:
    """A day and month with no year: in the year named relatively (明年, last year),
    else the latest such date not after today, or with `future` (a planned
    admission, say) the occurrence nearest to today."""
    if shift is not None:
        return _safe_date(today.year + shift, month, day)
    if future:
        candidates = [_safe_date(today.year + shift, month, day) for shift in (-1, 0, 1)]
        found = [c for c in candidates if c is not None]
        return min(found, key=lambda c: abs((c - today).days)) if found else None
    found = _safe_date(today.year, month, day)
    if found and found > today:
        found = _safe_date(today.year - 1, month, day)
    return found


def parse_date(text: str, today: date, future: bool = False) -> date | None:
    """A calendar date in `text`: 2026-11-20, 2026年11月20日, 11月20号, 11/20,
    Nov 20, 20 November 2026, the 21st, 上个月15号, 昨天, 3 days ago, 3天前."""
    text = (text or "").strip().lower()
    if m := re.search(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})", text):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.search(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", text):
        return _without_year(int(m[1]), int(m[2]), today, future, year_shift(text))
    if m := re.search(rf"\b({_MONTH})\.?\s+(\d{{1,2}}){_ORD}(?:,?\s*(\d{{4}}))?", text):
        if m[3]:
            return _safe_date(int(m[3]), MONTHS[m[1]], int(m[2]))
        return _without_year(MONTHS[m[1]], int(m[2]), today, future, year_shift(text))
    if m := re.search(rf"\b(\d{{1,2}}){_ORD}\s+(?:of\s+)?({_MONTH})\.?(?:,?\s*(\d{{4}}))?", text):
        if m[3]:
            return _safe_date(int(m[3]), MONTHS[m[2]], int(m[1]))
        return _without_year(MONTHS[m[2]], int(m[1]), today, future, year_shift(text))
    if m := re.search(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b", text):
        return _without_year(int(m[1]), int(m[2]), today, future)
    if m := re.search(r"(\d+)\s*(?:天前|days?\s+ago)", text):
        return today - timedelta(days=int(m[1]))
    for words, shift in sorted(RELATIVE_DAYS.items(), key=lambda kv: -len(kv[0])):
        if words in text:
            return today + timedelta(days=shift)
    last_month = "上个月" in text or "上月" in text or "last month" in text
    if m := re.search(rf"(?:\b|号|月)(\d{{1,2}})\s*(?:[日号]|{_ORD}\b)", text):
        day = int(m[1])
        month_start = today.replace(day=1)
        if last_month:
            month_start = (month_start - timedelta(days=1)).replace(day=1)
        found = _safe_date(month_start.year, month_start.month, day)
        if found and found > today and not last_month:
            previous = (month_start - timedelta(days=1)).replace(day=1)
            found = _safe_date(previous.year, previous.month, day)
        return found
    return None


def chinese_number(text: str) -> int | None:
    """Chinese numerals as customers write amounts: 三千五 is 3500, 一万二 is 12000."""
    if not text or any(ch not in CN_DIGITS and ch not in CN_UNITS for ch in text):
        return None
    total, section, digit, last_unit = 0, 0, None, None
    for ch in text:
        if ch in CN_DIGITS:
            digit = CN_DIGITS[ch]
            continue
        unit = CN_UNITS[ch]
        if unit == 10_000:
            total += (section + (digit or 0)) * unit
            section = 0
        else:
            section += (1 if digit is None else digit) * unit
        digit, last_unit = None, unit
    if digit is not None:
        # A digit after a unit is the next unit down: 三千五 = 3500, 一万二 = 12000.
        section += digit * (last_unit // 10 if last_unit and last_unit > 10 else 1)
    return total + section


def parse_amount(text: str) -> Decimal | None:
    """An amount of money: 3500, 3,500.50元, ¥3500, 3.5k, 1.2万, 三千五."""
    text = (text or "").lower().replace(",", "").replace(",", "").replace(" ", "")
    if m := re.search(r"(\d+(?:\.\d+)?)(万|w|千|k)?", text):
        try:
            amount = Decimal(m[1])
        except InvalidOperation:
            return None
        scale = {"万": 10_000, "w": 10_000, "千": 1000, "k": 1000}.get(m[2] or "", 1)
        return (amount * scale).quantize(Decimal("0.01"))
    if m := re.search(r"[零〇一二两三四五六七八九十百千万]+", text):
        number = chinese_number(m[0])
        return Decimal(number).quantize(Decimal("0.01")) if number else None
    return None


MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def parse_mobile(text: str) -> str | None:
    """A mainland mobile number, spaces and dashes allowed: 139 1234 5678."""
    match = MOBILE.search(re.sub(r"[\s-]", "", text or ""))
    return match.group() if match else None


# Parts of the day customers name, as (start, end) hours inside service hours.
DAY_PARTS = {
    "上午": (9, 12),
    "早上": (9, 11),
    "中午": (12, 14),
    "下午": (14, 18),
    "傍晚": (17, 19),
    "晚上": (19, 21),
    "morning": (9, 12),
    "noon": (12, 14),
    "lunch": (12, 14),
    "afternoon": (14, 18),
    "evening": (19, 21),
    "tonight": (19, 21),
}


# The payload of a window button: 11-26 14:00-16:00.
BUTTON_WINDOW = re.compile(r"(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})")
LATER_PARTS = ("下午", "晚上", "傍晚", "afternoon", "evening", "tonight")


def parse_window(
    text: str, now: datetime, opening: time, closing: time
) -> tuple[datetime, datetime] | None:
    """A callback window in China time: a button's `11-26 14:00-16:00`, or words like
    明天下午, today 3pm, 后天上午10点. Returns None unless it is inside service hours
    and starts in the future."""
    local_now = now.astimezone(CHINA)
    today = local_now.date()
    raw = (text or "").strip().lower()
    if m := BUTTON_WINDOW.search(raw):
        day = _safe_date(today.year, int(m[1]), int(m[2]))
        if day and day < today:
            day = _safe_date(today.year + 1, int(m[1]), int(m[2]))
        if day is None:
            return None
        start = datetime.combine(day, time(int(m[3]), int(m[4])), CHINA)
        end = datetime.combine(day, time(int(m[5]) % 24, int(m[6])), CHINA)
    else:
        day = None
        for words, shift in sorted(RELATIVE_DAYS.items(), key=lambda kv: -len(kv[0])):
            if words in raw:
                day = today + timedelta(days=shift)
                break
        if day is None:
            explicit = parse_date(raw, today - timedelta(days=1))
            day = explicit if explicit and explicit >= today else None
        hours = next((span for word, span in DAY_PARTS.items() if word in raw), None)
        if m := re.search(r"(\d{1,2})\s*(?:点|:00|时|\s*(am|pm)\b)", raw):
            hour = int(m[1])
            afternoon = m[2] == "pm" or any(w in raw for w in LATER_PARTS)
            if afternoon and hour < 12:
                hour += 12
            hours = (hour, hour + 2)
        if hours is None:
            return None
        if day is None:
            day = today if hours[0] > local_now.hour else today + timedelta(days=1)
        start = datetime.combine(day, time(hours[0]), CHINA)
        end = datetime.combine(day, time(min(hours[1], 23)), CHINA)
    if not (
        opening <= start.timetz().replace(tzinfo=None)
        and end.timetz().replace(tzinfo=None) <= closing
        and start < end
        and start > local_now
        and start.date() <= today + timedelta(days=7)
    ):
        return None
    return start, end
