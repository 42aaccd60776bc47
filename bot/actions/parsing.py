"""Values customers type into forms, in either language: dates, amounts, mobile
numbers and callback windows. Pure functions, no I/O.

The reading itself is done by libraries: JioNLP (`jionlp.ner.extract_time`) for
Chinese dates and times, dateparser for English ones, cn2an for Chinese numerals.
What is ours is the policy on top: which occurrence of a date with no year (or no
month, or only a weekday) is meant, refusing anything vague or ambiguous (a week, a
month name on its own, two different dates in one answer), and the service-hours
meaning of 下午 / afternoon for callbacks."""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import cn2an
import dateparser
import jionlp  # ~0.3 s and ~30 MB once, at import; prints a two-line banner to stdout

CHINA = ZoneInfo("Asia/Shanghai")

CJK = re.compile(r"[\u4e00-\u9fff]")

# Years named relative to this one; 今年 (0) is left to the usual reading.
YEAR_WORDS = {"前年": -2, "去年": -1, "明年": 1, "后年": 2, "last year": -1, "next year": 1}


def year_shift(text: str) -> int | None:
    return next((shift for words, shift in YEAR_WORDS.items() if words in text), None)


def _clean(text: str | None) -> str:
    """Full-width forms folded (，￥１２), lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text or "").lower().split())


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12))


# ---- our rules for dates that leave something out ----------------------------------


def _without_year(
    month: int, day: int, today: date, future: bool = False, shift: int | None = None
) -> date | None:
    """A day and month with no year: in the year named relatively (明年, last year),
    else the latest such date not after today, or with `future` (a planned
    admission, say) the occurrence nearest to today."""
    if shift is not None:
        return _safe_date(today.year + shift, month, day)
    if future:
        candidates = [_safe_date(today.year + years, month, day) for years in (-1, 0, 1)]
        found = [c for c in candidates if c is not None]
        return min(found, key=lambda c: abs((c - today).days)) if found else None
    found = _safe_date(today.year, month, day)
    if found is None or found > today:
        found = _safe_date(today.year - 1, month, day)
    return found


def _months_before(today: date, months: int, day: int | None = None) -> date | None:
    """`day` of the month `months` before today's (negative: after); None if that
    month has no such day. Without `day`, today's day, clamped to the month's end."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    if day is None:
        day = min(today.day, calendar.monthrange(year, month + 1)[1])
    return _safe_date(year, month + 1, day)


def _day_of_month(day: int, today: date, future: bool = False) -> date | None:
    """`the 21st` / `21号`, no month: the latest such day not after today, or with
    `future` the nearest one (so 3号 said on 25 November is 3 December)."""
    if not 1 <= day <= 31:
        return None
    candidates = [c for n in range(-3, 3) if (c := _months_before(today, n, day))]
    if future:
        return min(candidates, key=lambda c: (abs((c - today).days), c < today))
    return max(c for c in candidates if c <= today)


def _weekday_near(weekday: int, today: date, future: bool = False) -> date:
    """A bare weekday (周五, friday): the latest one not after today, or with
    `future` the next one not before today."""
    if future:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    return today - timedelta(days=(today.weekday() - weekday) % 7)


# ---- Chinese: JioNLP ----------------------------------------------------------------

CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
CN_SMALL = r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})"
# 周五 with nothing before it (not 上周五 / 这周五 / 下周五).
CN_BARE_WEEKDAY = re.compile(r"(?:周|星期|礼拜)[一二三四五六日天]")
CN_WEEKDAYS = dict(zip("一二三四五六日天", (0, 1, 2, 3, 4, 5, 6, 6), strict=True))
# 15号 / 十五日 with no month said anywhere.
CN_DAY_ONLY = re.compile(rf"(?<![\d月])({CN_SMALL})\s*[号日]")
# A month by its number (11月, 十一月), not 上个月 / 下月 / 本月.
CN_MONTH = re.compile(rf"(?<![个上下本这当])(?:{CN_SMALL})\s*月|\d{{1,2}}\s*[/.-]\s*\d{{1,2}}")
CN_WEEKS_AGO = re.compile(rf"([\d{CN_NUMERAL}]+)\s*个?\s*(?:周|星期|礼拜)(?:之)?前")
CN_MONTHS_AGO = re.compile(rf"([\d{CN_NUMERAL}]+)\s*个\s*月(?:之)?前")
CN_SHORT = {"明早": "明天早上", "今早": "今天早上", "明晚": "明天晚上", "今晚": "今天晚上"}


def _cn2an(numeral: str, mode: str = "smart") -> int | float | None:
    """cn2an's reading of a numeral (三千五, 1.2万), None if it is not one."""
    try:
        return cn2an.cn2an(numeral, mode)
    except (ValueError, KeyError):  # KeyError: cn2an 0.5.24 on some malformed ones (七十三二)
        return None


def _cn_int(numeral: str) -> int | None:
    value = _cn2an(numeral)
    return int(value) if value is not None and value == int(value) else None


def _cn_times(text: str, base: datetime) -> list[tuple[str, dict]] | None:
    """JioNLP's time entities in `text` as (words, parse), durations (住了3天) left
    out; None if JioNLP could not read them."""
    try:
        found = jionlp.ner.extract_time(text, time_base=base, with_parsing=True)
    except Exception:  # JioNLP raises bare ValueError / IndexError on odd strings
        return None
    entities = []
    for entity in found:
        detail = entity.get("detail") or {}
        if detail.get("type") in ("time_delta", "time_period"):
            continue
        if detail.get("type") not in ("time_point", "time_span") or len(detail["time"]) != 2:
            return None
        entities.append((entity["text"].strip(), detail))
    return entities


def _span(detail: dict) -> tuple[datetime, datetime] | None:
    """JioNLP's first and last moment; None when open-ended (it says 'inf')."""
    try:
        start, end = (datetime.fromisoformat(t) for t in detail["time"])
    except (TypeError, ValueError):
        return None
    return start, end


def _cn_entity_date(words: str, detail: dict, today: date, future: bool) -> date | None:
    if m := CN_WEEKS_AGO.search(words):  # JioNLP reads 两周前 as that whole week
        weeks = _cn_int(m[1])
        return today - timedelta(weeks=weeks) if weeks else None
    if m := CN_MONTHS_AGO.search(words):  # ... and 一个月前 as two whole months
        months = _cn_int(m[1])
        return _months_before(today, months) if months else None
    span = _span(detail)
    if span is None or span[0].date() != span[1].date():
        return None  # 上周, 上上周, 3号到5号: not one day
    day = span[0].date()
    if m := CN_BARE_WEEKDAY.match(words):
        return _weekday_near(CN_WEEKDAYS[m[0][-1]], today, future)
    if CN_MONTH.search(words) and not re.search(r"年|\d{4}", words):
        return _without_year(day.month, day.day, today, future)
    return day


def _cn_expand(text: str) -> str:
    for short, full in CN_SHORT.items():
        text = text.replace(short, full)
    return text


def _chinese_dates(text: str, today: date, future: bool) -> set[date]:
    text = _cn_expand(text)
    if "月" not in text and "年" not in text and CN_DAY_ONLY.search(text):
        # JioNLP puts 28号 in this month even when that is ahead, and finds no
        # date at all in 31号 in a 30-day month.
        days = {_cn_int(m[1]) for m in CN_DAY_ONLY.finditer(text)}
        found = {_day_of_month(day, today, future) if day else None for day in days}
        return set() if None in found else found
    entities = _cn_times(text, _noon(today))
    if not entities:
        return set()
    found = {_cn_entity_date(words, detail, today, future) for words, detail in entities}
    return set() if None in found else found


# ---- English: dateparser, behind a guard -------------------------------------------

EN_MONTHS = {
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun",
    "june", "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october",
    "nov", "november", "dec", "december",
}  # fmt: skip
EN_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
# Short weekdays are also words (sat, sun, wed): taken only when they are the answer.
EN_SHORT_WEEKDAYS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3,
                     "thurs": 3, "fri": 4, "sat": 5, "sun": 6}  # fmt: skip
EN_RELATIVE = {"yesterday", "today", "tonight", "tomorrow", "ago"}
EN_UNITS = {"day", "days", "week", "weeks", "fortnight", "month", "months", "year", "years"}
EN_NUMBERS = {"a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight",
              "nine", "ten", "eleven", "twelve"}  # fmt: skip
EN_LINKS = {"the", "of", "on", "in", "last", "next", "this", "coming", "before", "after"}
EN_ORDINALS = {"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th",
               "fifth": "5th", "sixth": "6th", "seventh": "7th", "eighth": "8th",
               "ninth": "9th", "tenth": "10th"}  # fmt: skip
EN_VOCABULARY = (
    EN_MONTHS | set(EN_WEEKDAYS) | set(EN_SHORT_WEEKDAYS) | EN_RELATIVE | EN_UNITS | EN_NUMBERS
    | EN_LINKS | set(EN_ORDINALS)
)  # fmt: skip
EN_TOKEN = re.compile(r"\d{1,4}(?:[/.-]\d{1,2}(?:[/.-]\d{2,4})?)?(?:st|nd|rd|th)?(?!\d)|[a-z]+")
EN_WEEKDAY = "|".join(EN_WEEKDAYS)
EN_WEEK_OF = re.compile(
    rf"(?:(?P<w1>last|this|next) week (?P<d1>{EN_WEEKDAY})"
    rf"|(?:on )?(?P<d2>{EN_WEEKDAY}) (?:of )?(?P<w2>last|this|next) week)"
)
WEEK_SHIFT = {"last": -1, "this": 0, "next": 1}


def _english_spans(text: str) -> list[list[str]]:
    """Runs of date words in `text`, split at anything else (so `we went` or `I may`
    never reach dateparser as part of a date)."""
    spans: list[list[str]] = []
    current: list[str] = []
    end = 0
    text = text.replace("'s ", " ")
    for m in EN_TOKEN.finditer(text):
        word = EN_ORDINALS.get(m[0], m[0])
        gap = text[end : m.start()]
        joined = re.fullmatch(r"[\s.]*", gap) or (re.fullmatch(r"\s*,\s*", gap) and len(word) == 4)
        if not (word in EN_VOCABULARY or word[0].isdigit()):
            word = None
        if current and (word is None or not joined):
            spans.append(current)
            current = []
        if word is not None:
            current.append(word)
        end = m.end()
    if current:
        spans.append(current)
    return spans


def _english_span_date(words: list[str], whole: bool, today: date, future: bool) -> date | None:
    """The date in one run of date words, or None; raises LookupError when the run
    is not a date at all (a lone month name, `last week`) so it is ignored."""
    while words and words[-1] in EN_LINKS | {"a", "an"}:
        words = words[:-1]
    while words and words[0] in ("of", "on"):
        words = words[1:]
    core = [
        w for w in words
        if w[0].isdigit() or w in EN_RELATIVE or w in EN_WEEKDAYS
        or (whole and w in EN_SHORT_WEEKDAYS)
    ]  # fmt: skip
    if not core:
        raise LookupError  # `may`, `in march`, `last week`, `the`: no day named
    phrase = " ".join(words)
    if m := EN_WEEK_OF.fullmatch(phrase):  # dateparser reads none of these
        weekday = EN_WEEKDAYS[m["d1"] or m["d2"]]
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(weeks=WEEK_SHIFT[m["w1"] or m["w2"]], days=weekday)
    shift = year_shift(phrase)
    for year_words in ("last year", "next year"):
        phrase = " ".join(phrase.replace(year_words, " ").split())
    left = set(phrase.split())
    if re.fullmatch(r"\d+", phrase) or (
        left & EN_UNITS and not left & {"ago", "in", "before", "after"}
    ):
        raise LookupError  # `12`, `2 days`, `3 weeks`: a number or a length, not a date
    months = [w for w in words if w in EN_MONTHS]
    if months and "ago" in words:
        return None  # `may 2 weeks ago`, the month picked out of `I may ...`: refuse
    if m := re.fullmatch(r"(?:the )?(\d{1,2})[/.-](\d{1,2})", phrase):
        first, second = int(m[1]), int(m[2])
        # Day first, as dateparser is told; 11/20 can only be month first.
        day, month = (second, first) if second > 12 >= first else (first, second)
        return _without_year(month, day, today, future)
    if m := re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)", phrase):
        return _day_of_month(int(m[1]), today, future)  # dateparser has no 31st in November
    if len(words) == 1 and (words[0] in EN_WEEKDAYS or words[0] in EN_SHORT_WEEKDAYS):
        weekday = EN_WEEKDAYS.get(words[0], EN_SHORT_WEEKDAYS.get(words[0]))
        return _weekday_near(weekday, today, future)  # today counts, as in Chinese
    parsed = dateparser.parse(
        phrase,
        languages=["en"],
        settings={
            "RELATIVE_BASE": _noon(today),
            "PREFER_DATES_FROM": "future" if future else "past",
            "DATE_ORDER": "DMY",
        },
    )
    if parsed is None:
        return None
    day = parsed.date()
    if months and not re.search(r"\b\d{4}\b", phrase):
        return _without_year(day.month, day.day, today, future, shift)
    return day


def _english_dates(text: str, today: date, future: bool) -> set[date]:
    text = re.sub(r"\ba couple(?: of)?\b", "2", text)
    spans = _english_spans(text)
    whole = len(spans) == 1 and " ".join(spans[0]) == text.strip(" .!")
    found = set()
    for words in spans:
        try:
            found.add(_english_span_date(words, whole, today, future))
        except LookupError:
            continue
    return set() if None in found else found


def parse_date(text: str, today: date, future: bool = False) -> date | None:
    """The one calendar date in `text`: 2026-11-20, 2026年11月20日, 11月20号, 20/11,
    Nov 20, 20 November 2026, the 21st, 上个月15号, 上周五, 昨天, 3 days ago, 两周前.
    A date with no year is the latest one not after `today` (or with `future`, the
    nearest one); None when there is no date, only a vague one (上周, last week,
    March), or two different ones."""
    text = _clean(text)
    if not text:
        return None
    found = (_chinese_dates if CJK.search(text) else _english_dates)(text, today, future)
    return found.pop() if len(found) == 1 else None


# ---- amounts: cn2an -----------------------------------------------------------------


def chinese_number(text: str) -> int | None:
    """Chinese numerals as customers write amounts: 三千五 is 3500, 一万二 is 12000,
    一百零五 is 105."""
    text = (text or "").strip()
    if not text or not re.fullmatch(f"[{CN_NUMERAL}]+", text):
        return None
    value = _cn2an(text, "normal")
    return int(value) if value is not None and value == int(value) else None


CN_UNIT_VALUES = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
AMOUNT = re.compile(
    rf"(?P<pre>¥|rmb|cny)?"
    rf"(?P<number>[\d.{CN_NUMERAL}点]*[\d{CN_NUMERAL}])"
    rf"(?P<scale>k(?!uai)|w|thousand)?"
    rf"(?P<post>块钱|块|元|圆|人民币|rmb|yuan|cny|kuai)?"
    rf"(?:(?<=[块元])(?P<jiao>[一二三四五六七八九两](?:毛|角)?|[1-9](?:毛|角)))?"
)
SCALES = {"k": 1000, "thousand": 1000, "w": 10_000}


def _amount_number(token: str) -> Decimal | None:
    token = token.rstrip(".点")
    if not token:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", token):
        return Decimal(token)
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([十百千万亿])", token):
        return Decimal(m[1]) * CN_UNIT_VALUES[m[2]]  # exact, where cn2an gives a float
    if (value := _cn2an(token)) is not None:
        return Decimal(str(value))
    if len(token) > 1 and token[-1] in "万亿":  # 三点五万: cn2an reads no decimals before 万
        prefix = _amount_number(token[:-1])
        return prefix * CN_UNIT_VALUES[token[-1]] if prefix is not None else None
    return None


def parse_amount(text: str) -> Decimal | None:
    """An amount of money: 3500, 3,500.50元, ¥3500, RMB 3,000, 3000 yuan, 3.5k, 1.2万,
    三千五, 一万二, 一百零五, 三千块, 两千五百块钱, 一块五. None when there is no amount, or
    several different ones and not exactly one of them marked as money."""
    text = re.sub(r"\s+", "", _clean(text))
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 12,800.50
    found: dict[Decimal, bool] = {}
    for m in AMOUNT.finditer(text):
        number, marked = m["number"], bool(m["pre"] or m["post"] or m["jiao"])
        if len(number.rstrip(".点")) == 1 and not re.search(r"\d", number) and not marked:
            continue  # the 一 of 一共, the 两 of 两个, the 三 of 三甲医院
        value = _amount_number(number)
        if value is None:
            continue
        value *= SCALES.get(m["scale"] or "", 1)
        if m["jiao"]:
            value += Decimal(_cn_int(m["jiao"].rstrip("毛角")) or 0) / 10
        value = value.quantize(Decimal("0.01"))
        found[value] = found.get(value, False) or marked
    if len(found) > 1:  # 一共3500，其中自费1000块 is 1000 only if that alone says 块/元
        found = {v: True for v, marked in found.items() if marked}
    return next(iter(found)) if len(found) == 1 else None


# ---- mobiles --------------------------------------------------------------------------

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def parse_mobile(text: str) -> str | None:
    """A mainland mobile number, spaces, dashes, brackets and +86 allowed:
    139 1234 5678, +86 139-1234-5678, full-width digits."""
    digits = re.sub(r"[\s()\-]", "", unicodedata.normalize("NFKC", text or ""))
    digits = re.sub(r"(?:\+|00|(?<!\d))86(?=1[3-9]\d{9}(?!\d))", "", digits)
    match = MOBILE.search(digits)
    return match.group() if match else None


# ---- callback windows ---------------------------------------------------------------

# Parts of the day customers name, as (start, end) hours inside service hours.
DAY_PARTS = {
    "上午": (9, 12),
    "早上": (9, 11),
    "早晨": (9, 11),
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
# Whole words only: the noon of afternoon is no part of the day.
DAY_PART = {word: re.compile(rf"(?<![a-z]){word}(?![a-z])") for word in DAY_PARTS}

# The payload of a window button: 11-26 14:00-16:00.
BUTTON_WINDOW = re.compile(r"(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})")
LATER_PARTS = ("下午", "晚上", "傍晚", "afternoon", "evening")
EARLY_WORDS = ("上午", "早", "凌晨", "morning")
# Words that name the day of a window; without one the next such time is meant.
CN_DAY_WORDS = re.compile(rf"[今明后昨]天|[今明昨]日|周|星期|礼拜|月|{CN_SMALL}\s*[号日]|\d[/-]\d")
EN_DAY_WORDS = re.compile(
    rf"\b(?:today|tomorrow|{'|'.join(EN_WEEKDAYS)}|{'|'.join(EN_SHORT_WEEKDAYS)}|"
    rf"{'|'.join(EN_MONTHS)}|next|this|day|week|\d+(?:st|nd|rd|th))\b|\d[/.-]\d"
)
EN_RANGE = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*(?:-|–|~|to|till|until)\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b"
)
EN_CLOCK = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|o'?clock)\b|\b(\d{1,2}):(\d{2})\b|\bat\s+(\d{1,2})\b"
)
INVALID = object()

Clock = tuple[time, time | None]


def _hour(hour: int, minute: int, pm: bool | None, early: bool = False) -> time | None:
    """A clock time as said: pm (True) adds 12 and am (False) makes 12 midnight; with
    neither, a bare 1 to 7 o'clock is in the afternoon unless `early` (上午, 凌晨,
    morning) was said: nobody asks to be called at 3 in the night."""
    if pm is False and hour == 12:
        hour = 0
    elif hour < 12 and (pm or (pm is None and 1 <= hour <= 7 and not early)):
        hour += 12
    return time(hour, minute) if hour < 24 and minute < 60 else None


def _early(text: str) -> bool:
    return any(word in text for word in EARLY_WORDS)


def _pm(marker: str | None, text: str) -> bool | None:
    """pm, am, or neither; `3 in the afternoon` is pm too."""
    if marker in ("am", "pm"):
        return marker == "pm"
    return True if any(word in text for word in LATER_PARTS) else None


def _english_when(text: str, today: date) -> tuple[date | None, Clock | None] | object:
    """The day and clock time said in English; the day from dateparser."""
    text = re.sub(r"\btonight\b", "today evening", text)
    text = re.sub(r"\bthis (?=morning|afternoon|evening)", "today ", text)
    clock, early = None, _early(text)
    # 2-4pm, 14:00-16:00; not the 11-26 of a date
    ranges = [m for m in EN_RANGE.finditer(text) if m[2] or m[3] or m[5] or m[6]]
    if m := next(iter(ranges), None):
        start = _hour(int(m[1]), int(m[2] or 0), _pm(m[3] or m[6], text), early)
        end = _hour(int(m[4]), int(m[5] or 0), _pm(m[6] or m[3], text), early)
        clock = (start, end) if start and end else None
        text = text.replace(m[0], " ")
    elif m := EN_CLOCK.search(text):
        hour, minute = (m[1], m[2]) if m[1] else (m[4], m[5]) if m[4] else (m[6], None)
        start = _hour(int(hour), int(minute or 0), _pm(m[3], text), early)
        clock = (start, None) if start else None
        text = text.replace(m[0], " ")
    for pattern in DAY_PART.values():
        text = pattern.sub(" ", text)
    day = None
    if EN_DAY_WORDS.search(text):
        day = parse_date(text, today, future=True)
        if day is None:
            return INVALID  # a day was named (next week, the 40th) but is no one day
    return day, clock


def _chinese_when(text: str, today: date) -> tuple[date | None, Clock | None] | object:
    """The day and clock time said in Chinese, both from JioNLP."""
    entities = _cn_times(text, _noon(today))
    if entities is None:
        return INVALID
    if not entities:
        return None, None
    if len(entities) > 1:  # 明天下午，3点左右: read the pieces together
        try:
            detail = jionlp.parse_time("".join(w for w, _ in entities), time_base=_noon(today))
        except Exception:  # as above
            return INVALID
        entities = [(text, detail)]
    words, detail = entities[0]
    span = _span(detail)
    if span is None or span[0].date() != span[1].date():
        return INVALID  # 下周, 这几天
    start, end = span
    day = None
    if CN_DAY_WORDS.search(text):
        day = start.date()
        if m := CN_BARE_WEEKDAY.match(words):  # JioNLP puts 周一 in this week even when past
            day = _weekday_near(CN_WEEKDAYS[m[0][-1]], today, future=True)
    # JioNLP has already read 下午3点 as 15:00; a bare 3点 it leaves at 03:00.
    clock, early = None, _early(text)
    if detail["type"] == "time_span" and end - start <= timedelta(hours=6):
        first = _hour(start.hour, start.minute, None, early)
        # JioNLP reads 下午两点到四点 as 14:00 to 04:00: the 下午 holds for both.
        second = _hour(end.hour, end.minute, True if first and first.hour >= 12 else None)
        clock = (first, second) if first and second else None
    elif end - start < timedelta(hours=2):
        clock = (_hour(start.hour, start.minute, None, early), None)
    return day, clock


def parse_window(
    text: str, now: datetime, opening: time, closing: time
) -> tuple[datetime, datetime] | None:
    """A callback window in China time: a button's `11-26 14:00-16:00`, or words like
    明天下午, 周五下午, 后天上午10点, today 3pm, tomorrow afternoon, friday 2-4pm.
    Returns None unless it is inside service hours, starts in the future and within
    a week."""
    local_now = now.astimezone(CHINA)
    today = local_now.date()
    raw = _cn_expand(_clean(text))
    if m := BUTTON_WINDOW.search(raw):
        day = _safe_date(today.year, int(m[1]), int(m[2]))
        if day and day < today:
            day = _safe_date(today.year + 1, int(m[1]), int(m[2]))
        if day is None:
            return None
        start = datetime.combine(day, time(int(m[3]), int(m[4])), CHINA)
        end = datetime.combine(day, time(int(m[5]) % 24, int(m[6])), CHINA)
    else:
        said = (_chinese_when if CJK.search(raw) else _english_when)(raw, today)
        if said is INVALID:
            return None
        day, clock = said
        part = next(
            (hours for word, hours in DAY_PARTS.items() if DAY_PART[word].search(raw)), None
        )
        if clock and clock[0]:
            begin = clock[0]
            finish = clock[1] or time(min(begin.hour + 2, 23), begin.minute)
        elif part:
            begin, finish = time(part[0]), time(min(part[1], 23))
        else:
            return None
        if day is None:
            day = today if begin.hour > local_now.hour else today + timedelta(days=1)
        start = datetime.combine(day, begin, CHINA)
        end = datetime.combine(day, finish, CHINA)
    if not (
        opening <= start.timetz().replace(tzinfo=None)
        and end.timetz().replace(tzinfo=None) <= closing
        and start < end
        and start > local_now
        and start.date() <= today + timedelta(days=7)
    ):
        return None
    return start, end
