"""The form parsers on real customer answers, in both languages, against a fixed
today: Wednesday 25 November 2026 (China time). Every expectation is an exact value."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from bot.actions.parsing import (
    chinese_number,
    parse_amount,
    parse_date,
    parse_mobile,
    parse_window,
    year_shift,
)

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 11:00 in China
OPENING, CLOSING = time(9), time(21)


def test_today_is_a_wednesday():
    assert TODAY.weekday() == 2


# ---- dates, Chinese ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # asked for
        ("上周五", date(2026, 11, 20)),
        ("两周前", date(2026, 11, 11)),
        ("上个月15号", date(2026, 10, 15)),
        ("前天", date(2026, 11, 23)),
        ("大前天", date(2026, 11, 22)),
        ("去年12月3号", date(2025, 12, 3)),
        ("11月20日", date(2026, 11, 20)),
        # more answers as customers give them
        ("11月20号住的院", date(2026, 11, 20)),
        ("十一月三号", date(2026, 11, 3)),
        ("12月1日", date(2025, 12, 1)),  # not yet this year: last year's
        ("明年1月1号", date(2027, 1, 1)),
        ("2026年11月3日", date(2026, 11, 3)),
        ("2025年12月31日", date(2025, 12, 31)),
        ("今年3月8号", date(2026, 3, 8)),
        ("３月８日", date(2026, 3, 8)),  # full-width digits
        ("2025-11-20住院", date(2025, 11, 20)),
        ("昨天", date(2026, 11, 24)),
        ("今天", date(2026, 11, 25)),
        ("25号", date(2026, 11, 25)),
        ("十五号", date(2026, 11, 15)),
        ("28号", date(2026, 10, 28)),  # not yet this month: last month's
        ("31号", date(2026, 10, 31)),  # November has no 31st
        ("本月15日", date(2026, 11, 15)),
        ("上个月3号", date(2026, 10, 3)),
        ("3天前", date(2026, 11, 22)),
        ("三天前", date(2026, 11, 22)),
        ("五天前", date(2026, 11, 20)),
        ("一周前", date(2026, 11, 18)),
        ("两个星期前", date(2026, 11, 11)),
        ("一个月前", date(2026, 10, 25)),
        ("上上周三", date(2026, 11, 11)),
        ("上周一", date(2026, 11, 16)),
        ("上星期五", date(2026, 11, 20)),
        ("上礼拜天", date(2026, 11, 22)),
        ("周一", date(2026, 11, 23)),
        ("周三", date(2026, 11, 25)),
        ("周五", date(2026, 11, 20)),  # a bare weekday is the last one, not this week's
        ("星期五住的院", date(2026, 11, 20)),
        ("我是上周五住的院", date(2026, 11, 20)),
        ("大概两周前去的医院", date(2026, 11, 11)),
        ("那个，11月3号吧", date(2026, 11, 3)),
        ("昨天下午去的急诊", date(2026, 11, 24)),
        ("住了3天院，上周五出院", date(2026, 11, 20)),  # 3天 is a length, not a date
    ],
)
def test_chinese_dates(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("下周一", date(2026, 11, 30)),
        ("下周一住院", date(2026, 11, 30)),
        ("这周五", date(2026, 11, 27)),
        ("本周五", date(2026, 11, 27)),
        ("周五", date(2026, 11, 27)),  # a bare weekday ahead, for a planned admission
        ("周三", date(2026, 11, 25)),
        ("明天", date(2026, 11, 26)),
        ("后天", date(2026, 11, 27)),
        ("下下周一", date(2026, 12, 7)),
        ("3号", date(2026, 12, 3)),  # the nearest 3rd
        ("下个月3号", date(2026, 12, 3)),
        ("12月1日", date(2026, 12, 1)),
        ("11月20日", date(2026, 11, 20)),  # nearer than next year's
        ("上周五", date(2026, 11, 20)),  # said relatively: as said
    ],
)
def test_chinese_dates_ahead(text, expected):
    assert parse_date(text, TODAY, future=True) == expected


# ---- dates, English ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # asked for
        ("last friday", date(2026, 11, 20)),
        ("20/11/2026", date(2026, 11, 20)),  # day first
        ("2 weeks ago", date(2026, 11, 11)),
        ("yesterday", date(2026, 11, 24)),
        ("3 days ago", date(2026, 11, 22)),
        ("Nov 3", date(2026, 11, 3)),
        ("3rd of November", date(2026, 11, 3)),
        # more answers as customers give them
        ("on the 3rd", date(2026, 11, 3)),
        ("the 28th", date(2026, 10, 28)),
        ("the 31st", date(2026, 10, 31)),
        ("Nov 3rd", date(2026, 11, 3)),
        ("3/11", date(2026, 11, 3)),  # day first
        ("11/20", date(2026, 11, 20)),  # can only be month first
        ("20.11.2026", date(2026, 11, 20)),
        ("2026-11-20", date(2026, 11, 20)),
        ("20 November 2026", date(2026, 11, 20)),
        ("Nov 3, 2025", date(2025, 11, 3)),
        ("Dec 1", date(2025, 12, 1)),
        ("nov 3 last year", date(2025, 11, 3)),
        ("first of November", date(2026, 11, 1)),
        ("three days ago", date(2026, 11, 22)),
        ("ten days ago", date(2026, 11, 15)),
        ("a week ago", date(2026, 11, 18)),
        ("a fortnight ago", date(2026, 11, 11)),
        ("a month ago", date(2026, 10, 25)),
        ("a couple of days ago", date(2026, 11, 23)),
        ("the day before yesterday", date(2026, 11, 23)),
        ("last week tuesday", date(2026, 11, 17)),
        ("tuesday last week", date(2026, 11, 17)),
        ("last week's Thursday", date(2026, 11, 19)),
        ("It happened last Monday", date(2026, 11, 23)),
        ("friday", date(2026, 11, 20)),
        ("Fri", date(2026, 11, 20)),
        ("Wednesday", date(2026, 11, 25)),
        ("I was admitted on 3 Nov", date(2026, 11, 3)),
        ("we went to the hospital yesterday", date(2026, 11, 24)),
        ("I stayed 2 days, admitted on the 3rd", date(2026, 11, 3)),
        ("I may have gone last friday", date(2026, 11, 20)),
    ],
)
def test_english_dates(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("next monday", date(2026, 11, 30)),
        ("tomorrow", date(2026, 11, 26)),
        ("the day after tomorrow", date(2026, 11, 27)),
        ("friday", date(2026, 11, 27)),
        ("in 3 days", date(2026, 11, 28)),
        ("the 3rd", date(2026, 12, 3)),
        ("Dec 1", date(2026, 12, 1)),
        ("next week friday", date(2026, 12, 4)),
        ("3/12", date(2026, 12, 3)),
    ],
)
def test_english_dates_ahead(text, expected):
    assert parse_date(text, TODAY, future=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        # English: noise, vague, or two dates
        "soon",
        "I may 2 weeks ago",  # no 2 May out of `I may`
        "may",
        "it was in March",
        "March",
        "last week",
        "next week",
        "12",
        "2 days",
        "dunno",
        "we",
        "I sat there for 3 hours",
        "on the 3rd or the 5th",
        "I was admitted on 3 Nov and discharged on 5 Nov",
        "the 40th",
        "feb 30",
        "",
        # Chinese
        "不记得了",
        "上周",
        "上上周",
        "上个月",
        "半个月前",
        "前几天",
        "最近",
        "随便",
        "一百块",
        "20号住院，22号出院",
        "3号到5号住院",
    ],
)
def test_no_date_in_noise_or_vague_answers(text):
    assert parse_date(text, TODAY) is None
    assert parse_date(text, TODAY, future=True) is None


def test_years_named_relatively():
    assert [year_shift(t) for t in ("去年12月", "明年", "last year", "12月")] == [-1, 1, -1, None]


# ---- amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # asked for
        ("一百零五", "105.00"),
        ("一千零一", "1001.00"),
        ("一万二", "12000.00"),
        ("两千五", "2500.00"),
        ("十二万三千", "123000.00"),
        ("三千块", "3000.00"),
        ("1.2万", "12000.00"),
        ("五百元", "500.00"),
        # more Chinese answers
        ("三千五", "3500.00"),
        ("三千五百块钱", "3500.00"),
        ("两千块钱", "2000.00"),
        ("八千元", "8000.00"),
        ("一万零五百", "10500.00"),
        ("两百", "200.00"),
        ("二百五", "250.00"),
        ("一百一", "110.00"),
        ("十万", "100000.00"),
        ("九千九百九十九", "9999.00"),
        ("一千二百三十四点五", "1234.50"),
        ("三点五万", "35000.00"),
        ("3.5万", "35000.00"),
        ("1万2", "12000.00"),
        ("3千", "3000.00"),
        ("2w", "20000.00"),
        ("一块五", "1.50"),
        ("三百五十块五毛", "350.50"),
        ("一共三千五", "3500.00"),  # the 一 of 一共 is no amount
        ("我花了三千块", "3000.00"),
        ("大概一万二左右", "12000.00"),
        ("住了三天院花了五千", "5000.00"),
        ("住了2次，共3000元", "3000.00"),  # only one of them is money
        ("￥３０００", "3000.00"),  # full-width
        ("3,500.5元", "3500.50"),
    ],
)
def test_chinese_amounts(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12,800.50", "12800.50"),
        ("¥3,000", "3000.00"),
        ("¥ 8k", "8000.00"),
        ("RMB 3,000", "3000.00"),
        ("3000 yuan", "3000.00"),
        ("12k", "12000.00"),
        ("3.5k", "3500.00"),
        ("3500", "3500.00"),
        ("about 2,500 rmb", "2500.00"),
        ("CNY 1,234.56", "1234.56"),
        ("3 thousand", "3000.00"),
        ("1500 kuai", "1500.00"),
        ("It cost me 4,200 yuan", "4200.00"),
        ("2 visits, 3000 yuan", "3000.00"),
        ("0", "0.00"),
    ],
)
def test_english_amounts(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    ["lots", "a lot", "不知道", "很多钱", "一些", "万一", "3500和1000", "1000 or 2000", ""],
)
def test_no_amount(text):
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [("一百零五", 105), ("一千零一", 1001), ("一万二", 12000), ("两千五", 2500),
     ("十二万三千", 123000), ("三千五", 3500), ("一万零五百", 10500), ("3500", None),
     ("三千块", None), ("", None)],
)  # fmt: skip
def test_chinese_numbers(text, expected):
    assert chinese_number(text) == expected


# ---- mobiles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("139 1234-5678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("(+86) 139-1234-5678", "13912345678"),
        ("0086 13912345678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("１３９１２３４５６７８", "13912345678"),
        ("my number is 18612345678 thanks", "18612345678"),
        ("12345678901", None),
        ("1391234567", None),
        ("139123456789", None),
        ("", None),
    ],
)
def test_mobiles(text, expected):
    assert parse_mobile(text) == expected


# ---- callback windows ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("11-26 14:00-16:00", "2026-11-26T14:00", "16:00"),  # a button's payload
        ("明天下午", "2026-11-26T14:00", "18:00"),
        ("周五下午", "2026-11-27T14:00", "18:00"),  # that Friday, not today
        ("后天上午", "2026-11-27T09:00", "12:00"),
        ("今天下午三点", "2026-11-25T15:00", "17:00"),
        ("下午三点", "2026-11-25T15:00", "17:00"),
        ("明天上午10点", "2026-11-26T10:00", "12:00"),
        ("后天上午10点", "2026-11-27T10:00", "12:00"),
        ("明天下午两点半", "2026-11-26T14:30", "16:30"),
        ("明天下午两点到四点", "2026-11-26T14:00", "16:00"),
        ("明天3点", "2026-11-26T15:00", "17:00"),
        ("周一上午", "2026-11-30T09:00", "12:00"),  # the coming Monday
        ("今晚", "2026-11-25T19:00", "21:00"),
        ("明早", "2026-11-26T09:00", "11:00"),
        ("today 3pm", "2026-11-25T15:00", "17:00"),
        ("tomorrow afternoon", "2026-11-26T14:00", "18:00"),
        ("tomorrow 10am", "2026-11-26T10:00", "12:00"),
        ("friday morning", "2026-11-27T09:00", "12:00"),
        ("tonight", "2026-11-25T19:00", "21:00"),
        ("this afternoon", "2026-11-25T14:00", "18:00"),
        ("tomorrow 2-4pm", "2026-11-26T14:00", "16:00"),
        ("tomorrow at 3", "2026-11-26T15:00", "17:00"),
        ("monday 10:30", "2026-11-30T10:30", "12:30"),
    ],
)
def test_callback_windows(text, start, end):
    window = parse_window(text, NOW, OPENING, CLOSING)
    assert window is not None
    assert (window[0].isoformat(), window[1].strftime("%H:%M")) == (f"{start}:00+08:00", end)


@pytest.mark.parametrize(
    "text",
    [
        "11-25 22:00-23:00",  # after hours
        "11-25 09:00-11:00",  # already past
        "today 10am",  # already past
        "明天凌晨3点",  # before opening
        "明天晚上8点",  # ends after closing
        "下下周一上午",  # more than a week ahead
        "下周",
        "next week",
        "明天",  # no time of day
        "hello",
        "随时",
    ],
)
def test_no_callback_window(text):
    assert parse_window(text, NOW, OPENING, CLOSING) is None


def test_a_time_with_no_day_is_the_next_one():
    late = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # 16:30 in China
    assert (
        parse_window("下午", late, OPENING, CLOSING)[0].isoformat() == "2026-11-26T14:00:00+08:00"
    )
    assert (
        parse_window("晚上", late, OPENING, CLOSING)[0].isoformat() == "2026-11-25T19:00:00+08:00"
    )
    assert parse_window("3pm", late, OPENING, CLOSING)[0].isoformat() == "2026-11-26T15:00:00+08:00"
