"""Deterministic demo data modelled on the seed insurer (PICC Health, China).

Customers in all 31 mainland provinces (about 73 % in third-tier cities or
below, about 35 % without social insurance), their families, long-term and
one-year medical, critical illness and accident policies, and claims with
their stage histories, all as of `REFERENCE_DATE`:

    python -m store.demo --customers 2000 [--seed 7] [--database-url URL] [--if-empty]

The same seed and size always give the same rows. Customers 1 and 2 (张伟 and
李娜) are fixed demo customers, the same on every machine. Running it again
appends: the ids continue from the largest ones in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select

from store.db import create_engine, migrate_async
from store.identifiers import id_card_check_digit, make_claim_number, make_policy_number
from store.models import (
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Customer,
    InsuredMember,
    Policy,
    PolicyKind,
    PolicyStatus,
)

REFERENCE_DATE = date(2026, 11, 1)
""""Today" for the demo data: every date is relative to it, never to the clock."""

CST = timezone(timedelta(hours=8), "CST")
# Everything in the demo data happened before the reference date began in Beijing.
AS_OF = datetime.combine(REFERENCE_DATE, dtime(0), tzinfo=CST).astimezone(UTC)
# Claims submitted this recently may still be open.
RECENT = timedelta(days=10)

BATCH = 10_000  # customers per transaction
PROGRESS_EVERY = 20_000

MODELS = (Customer, Policy, InsuredMember, Claim, ClaimStageChange)
TABLES: tuple[Table, ...] = tuple(model.__table__ for model in MODELS)  # type: ignore[misc]

# --- geography ---------------------------------------------------------------

# Province -> its cities: (city, tier 1-5, population in 10,000s, ID card region codes).
# Tier 1 is 一线, 2 新一线 and 二线, 3-5 三线 to 五线.
GEOGRAPHY: dict[str, list[tuple[str, int, int, tuple[str, ...]]]] = {
    "北京": [("北京", 1, 2190, ("110101", "110102", "110105", "110106", "110108", "110114"))],
    "天津": [("天津", 2, 1390, ("120101", "120102", "120103", "120104", "120110", "120116"))],
    "河北": [
        ("石家庄", 2, 1120, ("130102", "130104", "130105", "130108")),
        ("唐山", 3, 770, ("130202", "130203", "130204")),
        ("保定", 3, 920, ("130602", "130606", "130607")),
        ("邯郸", 3, 940, ("130402", "130403", "130404")),
        ("邢台", 4, 710, ("130502", "130503", "130521")),
        ("衡水", 4, 420, ("131102", "131121", "131182")),
        ("承德", 5, 335, ("130802", "130821", "130881")),
    ],
    "山西": [
        ("太原", 2, 530, ("140105", "140106", "140107")),
        ("大同", 4, 310, ("140213", "140214")),
        ("运城", 4, 480, ("140802", "140821", "140881")),
        ("临汾", 4, 400, ("141002", "141021", "141081")),
        ("吕梁", 5, 340, ("141102", "141121", "141181")),
    ],
    "内蒙古": [
        ("呼和浩特", 3, 345, ("150102", "150103", "150105")),
        ("包头", 3, 270, ("150202", "150203", "150204")),
        ("赤峰", 4, 400, ("150402", "150403", "150404")),
        ("鄂尔多斯", 4, 215, ("150602", "150603")),
        ("通辽", 5, 290, ("150502", "150521")),
    ],
    "辽宁": [
        ("沈阳", 2, 900, ("210102", "210103", "210104", "210105", "210106")),
        ("大连", 2, 745, ("210202", "210203", "210204")),
        ("鞍山", 3, 330, ("210302", "210303")),
        ("丹东", 4, 220, ("210602", "210603")),
        ("铁岭", 5, 240, ("211202", "211221")),
    ],
    "吉林": [
        ("长春", 2, 905, ("220102", "220103", "220104", "220105")),
        ("吉林", 3, 360, ("220202", "220203")),
        ("延吉", 4, 70, ("222401",)),
        ("四平", 5, 180, ("220302", "220303")),
    ],
    "黑龙江": [
        ("哈尔滨", 2, 1000, ("230102", "230103", "230104", "230108")),
        ("大庆", 3, 280, ("230602", "230603")),
        ("齐齐哈尔", 4, 410, ("230202", "230203")),
        ("牡丹江", 4, 230, ("231002", "231003")),
        ("绥化", 5, 375, ("231202", "231221")),
    ],
    "上海": [
        ("上海", 1, 2490, ("310101", "310104", "310105", "310106", "310107", "310110", "310115"))
    ],
    "江苏": [
        ("南京", 2, 930, ("320102", "320104", "320105", "320106")),
        ("苏州", 2, 1275, ("320505", "320506", "320507", "320508")),
        ("无锡", 2, 750, ("320205", "320206", "320211")),
        ("徐州", 2, 905, ("320302", "320303", "320311")),
        ("盐城", 3, 670, ("320902", "320903")),
        ("连云港", 3, 460, ("320705", "320706")),
        ("宿迁", 3, 500, ("321302", "321311")),
    ],
    "浙江": [
        ("杭州", 2, 1195, ("330102", "330105", "330106", "330108", "330110")),
        ("宁波", 2, 940, ("330203", "330205", "330206")),
        ("温州", 2, 960, ("330302", "330303", "330304")),
        ("金华", 2, 705, ("330702", "330703")),
        ("台州", 3, 660, ("331002", "331003")),
        ("衢州", 4, 230, ("330802", "330803")),
        ("丽水", 4, 250, ("331102", "331121")),
    ],
    "安徽": [
        ("合肥", 2, 940, ("340102", "340103", "340104", "340111")),
        ("芜湖", 3, 365, ("340202", "340207")),
        ("阜阳", 3, 820, ("341202", "341203", "341204")),
        ("六安", 4, 440, ("341502", "341503")),
        ("亳州", 4, 500, ("341602", "341621")),
        ("宿州", 4, 530, ("341302", "341321")),
    ],
    "福建": [
        ("福州", 2, 830, ("350102", "350103", "350104")),
        ("厦门", 2, 520, ("350203", "350205", "350206")),
        ("泉州", 2, 880, ("350502", "350503", "350504")),
        ("莆田", 3, 320, ("350302", "350303")),
        ("龙岩", 4, 270, ("350802", "350821")),
        ("南平", 4, 270, ("350702", "350721")),
    ],
    "江西": [
        ("南昌", 2, 625, ("360102", "360103", "360104")),
        ("赣州", 3, 900, ("360702", "360703", "360721")),
        ("九江", 3, 460, ("360402", "360403")),
        ("上饶", 3, 650, ("361102", "361103")),
        ("吉安", 4, 450, ("361002", "361003")),
    ],
    "山东": [
        ("济南", 2, 930, ("370102", "370103", "370104", "370105")),
        ("青岛", 2, 1010, ("370202", "370203", "370211", "370212")),
        ("临沂", 3, 1100, ("371302", "371311", "371312")),
        ("潍坊", 3, 940, ("370702", "370703", "370705")),
        ("菏泽", 3, 880, ("371702", "371703")),
        ("聊城", 3, 590, ("371502", "371503")),
        ("德州", 4, 560, ("371402", "371403")),
    ],
    "河南": [
        ("郑州", 2, 1260, ("410102", "410103", "410104", "410105")),
        ("洛阳", 3, 700, ("410302", "410303", "410305")),
        ("南阳", 3, 970, ("411302", "411303")),
        ("商丘", 3, 780, ("411402", "411403")),
        ("周口", 4, 900, ("411602", "411603", "411621")),
        ("驻马店", 4, 700, ("411702", "411721")),
        ("信阳", 4, 620, ("411502", "411503")),
    ],
    "湖北": [
        ("武汉", 2, 1230, ("420102", "420103", "420104", "420106", "420111")),
        ("宜昌", 3, 400, ("420502", "420503")),
        ("襄阳", 3, 530, ("420602", "420606")),
        ("荆州", 3, 520, ("421002", "421003")),
        ("孝感", 4, 430, ("420902", "420921")),
        ("黄冈", 4, 590, ("421102", "421121")),
    ],
    "湖南": [
        ("长沙", 2, 1000, ("430102", "430103", "430104", "430105")),
        ("衡阳", 3, 660, ("430405", "430406", "430407")),
        ("岳阳", 3, 500, ("430602", "430603")),
        ("常德", 3, 530, ("430702", "430703")),
        ("邵阳", 4, 660, ("430502", "430503")),
        ("怀化", 4, 460, ("431202", "431221")),
    ],
    "广东": [
        ("广州", 1, 1870, ("440103", "440104", "440105", "440106", "440111", "440112")),
        ("深圳", 1, 1760, ("440303", "440304", "440305", "440306", "440307")),
        ("佛山", 2, 950, ("440604", "440605", "440606")),
        ("东莞", 2, 1050, ("441900",)),
        ("汕头", 3, 550, ("440507", "440511")),
        ("湛江", 3, 700, ("440802", "440803")),
        ("茂名", 3, 620, ("440902", "440904")),
        ("梅州", 4, 390, ("441402", "441403")),
        ("清远", 4, 400, ("441802", "441803")),
    ],
    "广西": [
        ("南宁", 2, 870, ("450102", "450103", "450105")),
        ("柳州", 3, 420, ("450202", "450203")),
        ("桂林", 3, 490, ("450302", "450303")),
        ("玉林", 4, 580, ("450902", "450903")),
        ("百色", 5, 360, ("451002", "451021")),
    ],
    "海南": [
        ("海口", 3, 290, ("460105", "460106", "460107")),
        ("三亚", 3, 100, ("460202", "460203")),
        ("儋州", 5, 95, ("460400",)),
        ("琼海", 5, 53, ("469002",)),
    ],
    "重庆": [
        (
            "重庆",
            2,
            3210,
            ("500101", "500102", "500103", "500104", "500105", "500106", "500112"),
        )
    ],
    "四川": [
        ("成都", 2, 2090, ("510104", "510105", "510106", "510107", "510108")),
        ("绵阳", 3, 490, ("510703", "510704")),
        ("南充", 3, 560, ("511302", "511303")),
        ("宜宾", 3, 460, ("511502", "511503")),
        ("达州", 4, 540, ("511702", "511703")),
        ("乐山", 4, 320, ("511102", "511111")),
        ("西昌", 5, 95, ("513401",)),
    ],
    "贵州": [
        ("贵阳", 2, 600, ("520102", "520103", "520111")),
        ("遵义", 3, 660, ("520302", "520303")),
        ("毕节", 4, 690, ("520502", "520521")),
        ("铜仁", 5, 330, ("520602", "520603")),
    ],
    "云南": [
        ("昆明", 2, 850, ("530102", "530103", "530111")),
        ("曲靖", 3, 580, ("530302", "530303")),
        ("大理", 4, 65, ("532901",)),
        ("蒙自", 4, 45, ("532503",)),
        ("昭通", 5, 510, ("530602", "530621")),
    ],
    "西藏": [
        ("拉萨", 4, 87, ("540102", "540103")),
        ("日喀则", 5, 80, ("540202",)),
        ("林芝", 5, 24, ("540402",)),
    ],
    "陕西": [
        ("西安", 2, 1300, ("610102", "610103", "610104", "610113")),
        ("咸阳", 3, 420, ("610402", "610404")),
        ("宝鸡", 3, 330, ("610302", "610303")),
        ("榆林", 3, 360, ("610802", "610803")),
        ("汉中", 4, 320, ("610702", "610721")),
    ],
    "甘肃": [
        ("兰州", 2, 440, ("620102", "620103", "620104")),
        ("天水", 4, 300, ("620502", "620503")),
        ("庆阳", 5, 220, ("621002", "621021")),
        ("酒泉", 5, 105, ("620902", "620921")),
    ],
    "青海": [("西宁", 3, 250, ("630102", "630103", "630104")), ("海东", 5, 135, ("630202",))],
    "宁夏": [
        ("银川", 3, 290, ("640104", "640105", "640106")),
        ("吴忠", 5, 140, ("640302", "640303")),
        ("固原", 5, 115, ("640402", "640422")),
    ],
    "新疆": [
        ("乌鲁木齐", 3, 410, ("650102", "650103", "650104")),
        ("克拉玛依", 4, 49, ("650202", "650203")),
        ("伊宁", 4, 80, ("654002",)),
        ("喀什", 5, 75, ("653101",)),
    ],
}
# Share of customers by city tier: 73 % live in third-tier cities or below.
TIER_WEIGHTS = {1: 8, 2: 19, 3: 30, 4: 25, 5: 18}
SOCIAL_INSURANCE_SHARE = 0.65

# Large hospitals of each province (in its capital), where serious cases go.
PROVINCE_HOSPITALS = {
    "北京": ["北京协和医院", "北京大学第一医院", "中国人民解放军总医院", "北京大学人民医院"],
    "天津": ["天津医科大学总医院", "天津市第一中心医院"],
    "河北": ["河北医科大学第二医院", "河北省人民医院"],
    "山西": ["山西医科大学第一医院", "山西省人民医院"],
    "内蒙古": ["内蒙古自治区人民医院", "内蒙古医科大学附属医院"],
    "辽宁": ["中国医科大学附属第一医院", "中国医科大学附属盛京医院"],
    "吉林": ["吉林大学第一医院", "吉林省人民医院"],
    "黑龙江": ["哈尔滨医科大学附属第一医院", "黑龙江省医院"],
    "上海": ["复旦大学附属中山医院", "复旦大学附属华山医院", "上海交通大学医学院附属瑞金医院"],
    "江苏": ["江苏省人民医院", "南京鼓楼医院", "苏州大学附属第一医院"],
    "浙江": ["浙江大学医学院附属第一医院", "浙江大学医学院附属邵逸夫医院", "浙江省人民医院"],
    "安徽": ["安徽医科大学第一附属医院", "中国科学技术大学附属第一医院"],
    "福建": ["福建医科大学附属协和医院", "福建省立医院", "厦门大学附属第一医院"],
    "江西": ["南昌大学第一附属医院", "江西省人民医院"],
    "山东": ["山东大学齐鲁医院", "山东省立医院", "青岛大学附属医院"],
    "河南": ["郑州大学第一附属医院", "河南省人民医院"],
    "湖北": ["华中科技大学同济医学院附属同济医院", "华中科技大学同济医学院附属协和医院"],
    "湖南": ["中南大学湘雅医院", "中南大学湘雅二医院", "湖南省人民医院"],
    "广东": ["中山大学附属第一医院", "广东省人民医院", "南方医科大学南方医院"],
    "广西": ["广西医科大学第一附属医院", "广西壮族自治区人民医院"],
    "海南": ["海南省人民医院", "海南医科大学第一附属医院"],
    "重庆": ["重庆医科大学附属第一医院", "陆军军医大学第一附属医院"],
    "四川": ["四川大学华西医院", "四川省人民医院"],
    "贵州": ["贵州医科大学附属医院", "贵州省人民医院"],
    "云南": ["昆明医科大学第一附属医院", "云南省第一人民医院"],
    "西藏": ["西藏自治区人民医院"],
    "陕西": ["西安交通大学第一附属医院", "陕西省人民医院", "空军军医大学西京医院"],
    "甘肃": ["兰州大学第一医院", "甘肃省人民医院"],
    "青海": ["青海大学附属医院", "青海省人民医院"],
    "宁夏": ["宁夏医科大学总医院", "宁夏回族自治区人民医院"],
    "新疆": ["新疆医科大学第一附属医院", "新疆维吾尔自治区人民医院"],
}
# Where patients from anywhere travel for the hardest cases.
NATIONAL_HOSPITALS = [
    "北京协和医院",
    "四川大学华西医院",
    "复旦大学附属中山医院",
    "上海交通大学医学院附属瑞金医院",
    "中山大学附属第一医院",
    "华中科技大学同济医学院附属同济医院",
]
# The municipalities' own district-level hospitals.
MUNICIPAL_HOSPITALS = {
    "北京": ["首都医科大学附属北京朝阳医院", "北京积水潭医院", "北京市海淀医院"],
    "天津": ["天津市人民医院", "天津市第三中心医院"],
    "上海": ["上海市第一人民医院", "上海市东方医院", "上海市第六人民医院"],
    "重庆": ["重庆市人民医院", "重庆市中医院", "重庆大学附属三峡医院"],
}
CITY_HOSPITALS = ("{}市人民医院", "{}市第一人民医院", "{}市中心医院", "{}市中医院")

# --- people --------------------------------------------------------------------

# The most common surnames, weighted by their share of the population (percent).
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_TOP_SURNAME_SHARES = (7.1, 7.0, 6.7, 5.4, 4.5, 3.1, 2.2, 2.1, 2.0, 1.9, 1.5, 1.5, 1.4, 1.3)
SURNAME_WEIGHTS = [*_TOP_SURNAME_SHARES, *[0.5] * (len(SURNAMES) - len(_TOP_SURNAME_SHARES))]

# Characters of given names, by generation (born before 1970, 1970-1999, from 2000) and sex.
GIVEN_NAMES = {
    ("old", "M"): "建国华明德军文平志强福林生荣富贵忠海金良成永庆春保全振",
    ("old", "F"): "秀英桂兰玉珍淑华芳凤兰琴梅秀云翠霞素英丽娟春花金莲",
    ("mid", "M"): "伟强磊军勇杰涛明超刚辉鹏飞鑫波斌宇浩凯健俊帆峰亮东海龙斌",
    ("mid", "F"): "芳娜敏静丽艳娟霞婷玲燕丹萍红琳雪颖倩洁晶慧蓉莉佳",
    ("new", "M"): "子轩梓涵浩然宇睿泽一诺铭宸沐阳奕博皓俊熙晨嘉瑞航",
    ("new", "F"): "欣怡梓涵诗雨桐思妍一诺可馨语汐若萱佳琪悦彤安然梦瑶",
}

MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 150 151 152 153 155 156 157 158 159 "
    "180 181 182 183 185 186 187 188 189 191 193 195 198 199"
).split()  # 138 and 139 only for the demo customers, so their numbers stay unique

# --- products ------------------------------------------------------------------

PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "HYB-LTM",
        "name_zh": "好医保·长期医疗",
        "name_en": "Haoyibao Long-term Medical",
        "kind": PolicyKind.LONG_TERM_MEDICAL,
        "long_term": True,
        # Guaranteed renewal for 6 years (sold until mid-2021), then 20 years;
        # the premium is paid, and the cover renewed, every year.
        "term_years": (6, 20),
        "sum_insured": (2_000_000, 4_000_000),
        "premium": (168, 3_680),
        "waiting_days": 30,
        "weight": 56,
    },
    {
        "code": "HYB-STM",
        "name_zh": "好医保·住院医疗(一年期)",
        "name_en": "Haoyibao Hospital Medical (one-year)",
        "kind": PolicyKind.SHORT_TERM_MEDICAL,
        "long_term": False,
        "term_years": (1,),
        "sum_insured": (1_000_000, 3_000_000, 6_000_000),
        "premium": (96, 1_980),
        "waiting_days": 30,
        "weight": 30,
    },
    {
        "code": "RBJK-CI",
        "name_zh": "人保健康·重大疾病保险",
        "name_en": "PICC Health Critical Illness",
        "kind": PolicyKind.CRITICAL_ILLNESS,
        "long_term": True,
        "term_years": (20, 30),
        "sum_insured": (100_000, 200_000, 300_000, 500_000),
        "premium": (900, 12_800),
        "waiting_days": 90,
        "weight": 12,
    },
    {
        "code": "RBJK-ACC",
        "name_zh": "人保健康·综合意外伤害保险",
        "name_en": "PICC Health Personal Accident (one-year)",
        "kind": PolicyKind.ACCIDENT,
        "long_term": False,
        "term_years": (1,),
        "sum_insured": (100_000, 300_000, 500_000),
        "premium": (59, 399),
        "waiting_days": 0,
        "weight": 8,
    },
]
# The weights draw a customer's (different) products: the policies come out at about
# 45 % long-term medical, 30 % one-year medical, 15 % critical illness and 10 % accident.
PRODUCT_BY_CODE = {p["code"]: p for p in PRODUCTS}
LONG_TERM_MEDICAL_SINCE = date(2020, 11, 1)
TWENTY_YEAR_TERM_SINCE = date(2021, 7, 1)
CRITICAL_ILLNESS_SINCE = date(2016, 1, 1)

# Chance that a policy has had a claim, by kind: about 0.5 claims per customer.
CLAIM_CHANCE = {
    PolicyKind.LONG_TERM_MEDICAL: 0.35,
    PolicyKind.SHORT_TERM_MEDICAL: 0.31,
    PolicyKind.CRITICAL_ILLNESS: 0.065,
    PolicyKind.ACCIDENT: 0.22,
}
CLAIM_KINDS = {
    PolicyKind.LONG_TERM_MEDICAL: ((ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT), (65, 35)),
    PolicyKind.SHORT_TERM_MEDICAL: ((ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT), (70, 30)),
    PolicyKind.CRITICAL_ILLNESS: ((ClaimKind.CRITICAL_ILLNESS,), (1,)),
    PolicyKind.ACCIDENT: ((ClaimKind.ACCIDENT,), (1,)),
}
MEDICAL = (ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT)
# Where patients are treated: (own city, provincial centre, national centre).
HOSPITAL_LEVEL_WEIGHTS = {
    ClaimKind.OUTPATIENT: (80, 20, 0),
    ClaimKind.HOSPITALISATION: (58, 36, 6),
    ClaimKind.CRITICAL_ILLNESS: (30, 52, 18),
    ClaimKind.ACCIDENT: (85, 15, 0),
}
# Median and spread (of the logarithm) of the amounts claimed, in yuan.
CLAIM_AMOUNTS = {
    ClaimKind.OUTPATIENT: (1_500, 0.7, 120, 40_000),
    ClaimKind.HOSPITALISATION: (18_000, 0.8, 1_500, 900_000),
    ClaimKind.ACCIDENT: (2_800, 0.9, 200, 500_000),
}
MISSING_DOCUMENTS = {
    ClaimKind.HOSPITALISATION: [
        "发票原件 / original invoice",
        "出院小结 / discharge summary",
        "费用明细清单 / itemised bill",
        "住院病历 / inpatient medical record",
    ],
    ClaimKind.OUTPATIENT: [
        "发票原件 / original invoice",
        "门诊病历 / outpatient medical record",
        "检查报告 / test reports",
    ],
    ClaimKind.CRITICAL_ILLNESS: [
        "病理诊断报告 / pathology report",
        "诊断证明书 / diagnosis certificate",
        "出院小结 / discharge summary",
    ],
    ClaimKind.ACCIDENT: [
        "意外事故证明 / accident report",
        "门急诊病历 / emergency department record",
        "发票原件 / original invoice",
    ],
}
OUTSIDE_COVERED_HOSPITALS = (
    "非二级及以上公立医院就诊 / Treated outside the covered public hospitals (grade 2 or above)"
)
WAITING_PERIOD_REASON = "等待期内出险 / Incident within the waiting period"
REJECTION_REASONS = {
    ClaimKind.HOSPITALISATION: [
        "既往症不在保障范围内 / A pre-existing condition, which the policy excludes",
        "费用已由其他保险全额报销 / The costs were already fully reimbursed by another insurer",
        OUTSIDE_COVERED_HOSPITALS,
    ],
    ClaimKind.OUTPATIENT: [
        "普通门诊费用不在保障范围内 / Ordinary outpatient costs are not covered",
        OUTSIDE_COVERED_HOSPITALS,
    ],
    ClaimKind.CRITICAL_ILLNESS: [
        "所患疾病不符合合同约定的重大疾病定义 / "
        "The diagnosis does not meet the policy's definition of a critical illness",
        "投保时未如实告知健康状况 / The health declaration at purchase was incomplete",
    ],
    ClaimKind.ACCIDENT: [
        "非意外事故导致 / Not caused by an accident",
        "酒后驾驶属于责任免除 / Driving under the influence is excluded",
    ],
}
SUBMISSION_CHANNELS = (
    "人保健康App线上提交 / Submitted in the PICC Health app",
    "微信公众号线上提交 / Submitted on WeChat",
    "客服热线协助提交 / Submitted with the hotline's help",
)
SUBMISSION_CHANNEL_WEIGHTS = (55, 38, 7)


# --- helpers -------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _money(yuan: float) -> Decimal:
    return Decimal(round(yuan * 100)).scaleb(-2)


def _cum(weights) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _cities_by_tier() -> dict[int, tuple[list, list[float]]]:
    tiers: dict[int, list] = {}
    for province, cities in GEOGRAPHY.items():
        for city, tier, population, codes in cities:
            tiers.setdefault(tier, []).append((province, city, tier, population, codes))
    return {t: (rows, _cum(r[3] for r in rows)) for t, rows in tiers.items()}


_TIERS = _cities_by_tier()
_TIER_KEYS = list(TIER_WEIGHTS)
_TIER_CUM = _cum(TIER_WEIGHTS.values())
_SURNAME_CUM = _cum(SURNAME_WEIGHTS)
_PRODUCT_WEIGHTS = [p["weight"] for p in PRODUCTS]
_CLAIM_KIND_CUM = {k: (kinds, _cum(w)) for k, (kinds, w) in CLAIM_KINDS.items()}
_ALL_CITIES = [
    (province, city, codes)
    for province, cities in GEOGRAPHY.items()
    for city, _, _, codes in cities
]


def _fixed_id_card(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + id_card_check_digit(first17)


def _utc(day: date, hour: int, minute: int) -> datetime:
    """A Beijing wall-clock time on `day`, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST).astimezone(UTC)


# --- the generator -----------------------------------------------------------------


class _Generator:
    """Builds rows as plain dicts; ids are assigned here, continuing the store's."""

    def __init__(self, rng: random.Random, first_ids: dict[str, int], taken: set[str]):
        self.rng = rng
        self.next = dict(first_ids)
        self.taken = taken  # ID card numbers in use
        self.rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
        self.demo: list[str] = []  # summary lines about the fixed demo customers

    def take_id(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value

    # people

    def id_card(self, region: str, born: date, male: bool) -> str:
        rng = self.rng
        prefix = f"{region}{born:%Y%m%d}"
        while True:
            first17 = f"{prefix}{rng.randrange(500) * 2 + male:03d}"
            number = first17 + id_card_check_digit(first17)
            if number not in self.taken:
                self.taken.add(number)
                return number

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, cum_weights=_SURNAME_CUM)[0]

    def name(self, born: date, male: bool, surname: str | None = None) -> str:
        rng = self.rng
        era = "old" if born.year < 1970 else "mid" if born.year < 2000 else "new"
        chars = GIVEN_NAMES[(era, "M" if male else "F")]
        surname = surname or self.surname()
        if rng.random() < (0.4 if era == "old" else 0.25):
            return surname + rng.choice(chars)
        return surname + rng.choice(chars) + rng.choice(chars)

    def customer(self, cid: int) -> tuple[dict[str, Any], str]:
        rng = self.rng
        tier = rng.choices(_TIER_KEYS, cum_weights=_TIER_CUM)[0]
        cities, cum = _TIERS[tier]
        province, city, tier, _, codes = rng.choices(cities, cum_weights=cum)[0]
        region = rng.choice(codes)
        if rng.random() < 0.15:  # born elsewhere, moved to the city
            region = rng.choice(rng.choice(_ALL_CITIES)[2])
        male = rng.random() < 0.5
        born = _born(rng.triangular(18.1, 75.9, 34))
        # An affine map is a bijection on 8 digits: each customer id its own number.
        mobile = rng.choice(MOBILE_PREFIXES) + f"{(cid * 73939133 + 20261101) % 10**8:08d}"
        row = {
            "id": cid,
            "name": self.name(born, male),
            "id_card_number": self.id_card(region, born, male),
            "mobile": mobile,
            "birth_date": born,
            "gender": "M" if male else "F",
            "province": province,
            "city": city,
            "city_tier": tier,
            "has_social_insurance": rng.random() < SOCIAL_INSURANCE_SHARE,
            "tags": [],
            "bank_account": None,  # drawn with the claims' card
            "created_at": None,  # set from the first policy
        }
        return row, region

    def family(self, customer: dict[str, Any], region: str) -> list[dict[str, Any]]:
        """Relatives who may be insured on the customer's policies."""
        rng = self.rng
        born, male = customer["birth_date"], customer["gender"] == "M"
        age = (REFERENCE_DATE - born).days / 365.25
        own_surname = customer["name"][0]
        relatives = []

        def add(relation: str, is_male: bool, years: float, surname: str | None) -> None:
            when = _born(years)
            relatives.append(
                {
                    "relation": relation,
                    "name": self.name(when, is_male, surname),
                    "id_card_number": self.id_card(region, when, is_male),
                    "birth_date": when,
                }
            )

        children_surname = own_surname
        if age >= 24 and rng.random() < 0.75:
            spouse_age = max(20.5, age + rng.uniform(-4, 4) + (-2 if male else 2))
            spouse_surname = self.surname()
            add("spouse", not male, spouse_age, spouse_surname)
            if not male:
                children_surname = spouse_surname
        if age >= 24:
            for _ in range(rng.choices((0, 1, 2), (35, 45, 20))[0]):
                child_age = age - rng.uniform(22, 36)
                if 0.3 <= child_age < 23:
                    add("child", rng.random() < 0.5, child_age, children_surname)
        if age <= 52 and rng.random() < 0.45:
            parent_age = age + rng.uniform(22, 32)
            if parent_age <= 78:
                father = rng.random() < 0.5
                add("parent", father, parent_age, own_surname if father else None)
        return relatives

    # policies

    def policy(
        self, customer: dict[str, Any], product: dict[str, Any], adult_from: date
    ) -> tuple[dict[str, Any], date]:
        """A policy row and the last day it covered (or covers)."""
        rng = self.rng
        kind = product["kind"]
        ref = REFERENCE_DATE
        if product["long_term"]:
            on_sale = kind == PolicyKind.LONG_TERM_MEDICAL and LONG_TERM_MEDICAL_SINCE
            lo = max(on_sale or CRITICAL_ILLNESS_SINCE, adult_from)
            start = lo + timedelta(days=rng.randrange(max((ref - lo).days - 6, 1)))
            if kind == PolicyKind.LONG_TERM_MEDICAL:
                term = 6 if start < TWENTY_YEAR_TERM_SINCE else 20
            else:
                term = rng.choice(product["term_years"])
            expiry = add_years(start, term) - timedelta(days=1)
            status = rng.choices(_LONG_STATUSES, _LONG_STATUS_WEIGHTS)[0]
            years_held = (ref - start).days // 365
            if status == PolicyStatus.LAPSED and years_held >= 1:
                # The renewal premium was not paid: cover ended on an anniversary.
                covered_to = add_years(start, rng.randrange(1, years_held + 1)) - timedelta(1)
            elif status != PolicyStatus.ACTIVE:
                status = PolicyStatus.CANCELLED
                covered_to = start + timedelta(days=rng.randrange(max((ref - start).days, 1)))
            else:
                covered_to = expiry
        else:
            status = rng.choices(_SHORT_STATUSES, _SHORT_STATUS_WEIGHTS)[0]
            if status == PolicyStatus.EXPIRED:
                start = ref - timedelta(days=rng.randrange(366, 3 * 365))
                if start < adult_from:
                    status = PolicyStatus.ACTIVE
            if status != PolicyStatus.EXPIRED:
                start = max(ref - timedelta(days=rng.randrange(1, 365)), adult_from)
            expiry = add_years(start, 1) - timedelta(days=1)
            held = (ref - start).days
            covered_to = expiry
            if status == PolicyStatus.CANCELLED:
                covered_to = start + timedelta(days=rng.randrange(max(held, 1)))
            elif status == PolicyStatus.LAPSED:
                if held > 30:  # paid monthly, and the payments stopped
                    covered_to = start + timedelta(days=30 * rng.randrange(1, held // 30 + 1) - 1)
                else:
                    status = PolicyStatus.ACTIVE
        # Premiums rise with age at purchase; medical cover costs more without social insurance.
        age = (start - customer["birth_date"]).days / 365.25
        low, high = product["premium"]
        factor = min(1.0, (max(age, 18) - 15) / 60) ** 2 * rng.uniform(0.8, 1.0)
        if kind in _MEDICAL_POLICIES and not customer["has_social_insurance"]:
            factor = min(1.0, factor * 1.9)
        policy_id = self.take_id("policies")
        row = {
            "id": policy_id,
            "number": make_policy_number(policy_id),
            "holder_id": customer["id"],
            "product_code": product["code"],
            "product_name": product["name_zh"],
            "kind": kind,
            "long_term": product["long_term"],
            "status": status,
            "sum_insured": Decimal(rng.choice(product["sum_insured"])),
            "premium": Decimal(round(low + (high - low) * factor)),
            "effective_date": start,
            "expiry_date": expiry,
        }
        return row, covered_to

    def members(
        self, customer: dict[str, Any], policy: dict[str, Any], relatives: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        rng = self.rng
        rows = [
            {
                "id": self.take_id("insured_members"),
                "policy_id": policy["id"],
                "customer_id": customer["id"],
                "name": customer["name"],
                "relation": "self",
                "id_card_number": customer["id_card_number"],
                "birth_date": customer["birth_date"],
            }
        ]
        chances = _MEMBER_CHANCES[policy["kind"]]
        # Babies can be insured from 28 days old, and nobody older than 70 at entry.
        youngest = policy["effective_date"] - timedelta(days=28)
        oldest = add_years(policy["effective_date"], -71) + timedelta(days=1)
        for relative in relatives:
            if oldest <= relative["birth_date"] <= youngest and (
                rng.random() < chances[relative["relation"]]
            ):
                member = dict(relative)
                member["id"] = self.take_id("insured_members")
                member["policy_id"] = policy["id"]
                member["customer_id"] = None
                rows.append(member)
        return rows

    # claims

    def claim(
        self,
        customer: dict[str, Any],
        policy: dict[str, Any],
        covered_to: date,
        member: dict[str, Any],
        card: str,
    ) -> None:
        """One claim with its stage history, or nothing when the policy never covered a day
        before the reference date."""
        rng = self.rng
        first = policy["effective_date"]
        last = min(covered_to, REFERENCE_DATE - timedelta(days=1))
        if last < first:
            return
        product = PRODUCT_BY_CODE[policy["product_code"]]
        kinds, cum = _CLAIM_KIND_CUM[policy["kind"]]
        kind = kinds[0] if len(kinds) == 1 else rng.choices(kinds, cum_weights=cum)[0]
        span = (last - first).days + 1
        if last >= REFERENCE_DATE - timedelta(days=8) and rng.random() < 0.08:
            # Recent: customers call about these.
            incident = REFERENCE_DATE - timedelta(days=rng.randrange(1, 12))
            incident = max(first, min(last, incident))
        else:
            incident = first + timedelta(days=rng.randrange(span))
            waiting_days = product["waiting_days"]
            if (incident - first).days < waiting_days < span and rng.random() < 0.85:
                # Few claims fall in the waiting period: people know they would be refused.
                incident = first + timedelta(days=rng.randrange(waiting_days, span))
        delay = rng.randrange(*_SUBMISSION_DELAY[kind])
        submitted_day = min(incident + timedelta(days=delay), REFERENCE_DATE - timedelta(days=1))
        minute = rng.randrange(7 * 60, 23 * 60)
        submitted = _utc(submitted_day, minute // 60, minute % 60) + timedelta(
            seconds=rng.randrange(60)
        )

        # Amounts.
        sum_insured = policy["sum_insured"]
        if kind == ClaimKind.CRITICAL_ILLNESS:
            claimed = sum_insured
        else:
            median, spread, low, high = CLAIM_AMOUNTS[kind]
            yuan = median * math.exp(rng.gauss(0, spread))
            claimed = _money(min(max(yuan, low), high, float(sum_insured)))
        if kind == ClaimKind.CRITICAL_ILLNESS:
            approved = claimed
        elif kind in MEDICAL and not customer["has_social_insurance"]:
            approved = _money(float(claimed) * 0.6 * rng.uniform(0.9, 1.0))
        else:
            approved = _money(float(claimed) * rng.uniform(0.85, 1.0))

        # The outcome and the way there.
        waiting = (incident - first).days < product["waiting_days"]
        rejected = (waiting and rng.random() < 0.85) or rng.random() < 0.04
        needs_documents = rng.random() < 0.14
        investigate = rng.random() < (
            0.12
            if kind == ClaimKind.CRITICAL_ILLNESS
            else 0.06
            if kind == ClaimKind.HOSPITALISATION and claimed > 50_000
            else 0.015
        )
        age_days = (AS_OF - submitted).total_seconds() / 86400
        target = None
        if age_days <= RECENT.days and rng.random() >= min(0.8, 0.075 * age_days):
            # Still open: stop at an early stage.
            target = rng.choices(_OPEN_STAGES, _OPEN_STAGE_WEIGHTS)[0]
            if target == ClaimStage.DOCUMENTS_PENDING:
                needs_documents = True
            elif target == ClaimStage.INVESTIGATING:
                investigate = True
            elif target == ClaimStage.APPROVED:
                rejected = False
        fast = (
            kind in MEDICAL
            and not (needs_documents or investigate or rejected)
            and claimed < 20_000
            and rng.random() < 0.33
        )
        missing = (
            rng.sample(MISSING_DOCUMENTS[kind], rng.choice((1, 1, 2))) if needs_documents else []
        )
        reason = (
            (WAITING_PERIOD_REASON if waiting else rng.choice(REJECTION_REASONS[kind]))
            if rejected
            else None
        )

        uniform, expo = rng.uniform, rng.expovariate
        steps: list[tuple[ClaimStage, float, str | None]] = []  # (stage, minutes after, note)
        if fast:
            steps += [
                (ClaimStage.REVIEWING, uniform(1, 5), "快速理赔 / Fast-track claim"),
                (ClaimStage.APPROVED, uniform(2, 20), None),
                (ClaimStage.PAID, uniform(1, 15), None),
            ]
        else:
            if needs_documents:
                note = "需补充材料 / Documents needed: " + "; ".join(missing)
                steps.append((ClaimStage.DOCUMENTS_PENDING, uniform(30, 480), note))
                steps.append(
                    (ClaimStage.REVIEWING, 120 + expo(1 / 2160), "材料已补齐 / Documents received")
                )
            else:
                steps.append((ClaimStage.REVIEWING, uniform(5, 180), None))
            if investigate:
                note = "需进一步调查核实 / Further investigation needed"
                steps.append((ClaimStage.INVESTIGATING, uniform(60, 1440), note))
                decision_after = uniform(3, 15) * 1440
            elif kind == ClaimKind.CRITICAL_ILLNESS:
                decision_after = 60 + expo(1 / 2880)
            else:
                decision_after = 30 + expo(1 / 1400)
            if rejected:
                steps.append((ClaimStage.REJECTED, decision_after, reason))
            else:
                steps.append((ClaimStage.APPROVED, decision_after, None))
                steps.append((ClaimStage.PAID, uniform(20, 360), None))
        if target is not None:
            steps = [] if target == ClaimStage.SUBMITTED else steps[: _index(steps, target) + 1]
            total = sum(minutes for _, minutes, _ in steps)
            window = (AS_OF - submitted).total_seconds() / 60 * 0.9
            if total > window:
                steps = [(s, m * window / total, n) for s, m, n in steps]

        channel = rng.choices(SUBMISSION_CHANNELS, SUBMISSION_CHANNEL_WEIGHTS)[0]
        history = [(ClaimStage.SUBMITTED, submitted, channel)]
        at = submitted
        for stage, minutes, note in steps:
            at += timedelta(seconds=max(30, int(minutes * 60)))
            if at >= AS_OF:
                break  # not yet
            if stage == ClaimStage.APPROVED:
                note = f"核定赔付 {approved} 元 / Approved: CNY {approved}"
            elif stage == ClaimStage.PAID:
                note = f"已转账至尾号 {card} 的银行卡 / Paid to the bank card ending {card}"
            history.append((stage, at, note))
        self.add_claim(
            policy=policy,
            member=member,
            kind=kind,
            incident=incident,
            hospital=self.hospital(customer, kind),
            claimed=claimed,
            approved=approved,
            history=history,
            missing=missing,
            reason=reason,
        )

    def hospital(self, customer: dict[str, Any], kind: ClaimKind) -> str:
        rng = self.rng
        level = rng.choices((0, 1, 2), HOSPITAL_LEVEL_WEIGHTS[kind])[0]
        if level == 2:
            return rng.choice(NATIONAL_HOSPITALS)
        if level == 1:
            return rng.choice(PROVINCE_HOSPITALS[customer["province"]])
        city = customer["city"]
        if city in MUNICIPAL_HOSPITALS:
            return rng.choice(MUNICIPAL_HOSPITALS[city])
        return rng.choice(CITY_HOSPITALS).format(city)

    def add_claim(
        self,
        *,
        policy: dict[str, Any],
        member: dict[str, Any],
        kind: ClaimKind,
        incident: date,
        hospital: str,
        claimed: Decimal,
        approved: Decimal,
        history: list[tuple[ClaimStage, datetime, str | None]],
        missing: list[str],
        reason: str | None,
    ) -> None:
        claim_id = self.take_id("claims")
        stage, last_at = history[-1][0], history[-1][1]
        self.rows["claims"].append(
            {
                "id": claim_id,
                "number": make_claim_number(claim_id),
                "policy_id": policy["id"],
                "member_id": member["id"],
                "kind": kind,
                "incident_date": incident,
                "hospital": hospital,
                "amount_claimed": claimed,
                "amount_approved": approved if stage in _APPROVED else None,
                "amount_paid": approved if stage == ClaimStage.PAID else None,
                "stage": stage,
                "missing_documents": missing if stage == ClaimStage.DOCUMENTS_PENDING else [],
                "rejection_reason": reason if stage == ClaimStage.REJECTED else None,
                "submitted_at": history[0][1],
                "closed_at": last_at if stage in _CLOSED else None,
            }
        )
        changes = self.rows["claim_stage_changes"]
        for stage, at, note in history:
            changes.append(
                {
                    "id": self.take_id("claim_stage_changes"),
                    "claim_id": claim_id,
                    "stage": stage,
                    "at": at,
                    "note": note,
                }
            )

    # a whole customer

    def random_customer(self, cid: int) -> None:
        rng = self.rng
        customer, region = self.customer(cid)
        relatives = self.family(customer, region)
        adult_from = add_years(customer["birth_date"], 18)
        count = rng.choices((1, 2, 3), (62, 28, 10))[0]
        products = list(PRODUCTS)
        weights = list(_PRODUCT_WEIGHTS)
        card = f"{rng.randrange(10_000):04d}"
        policies = []
        for _ in range(count):
            i = rng.choices(range(len(products)), weights)[0]
            product = products.pop(i)
            weights.pop(i)
            policy, covered_to = self.policy(customer, product, adult_from)
            members = self.members(customer, policy, relatives)
            policies.append((policy, members))
            self.rows["policies"].append(policy)
            self.rows["insured_members"] += members
            chance = CLAIM_CHANCE[product["kind"]]
            claims = (rng.random() < chance) + (rng.random() < chance * 0.2)
            for _ in range(claims):
                member = members[0] if rng.random() < 0.65 else rng.choice(members)
                self.claim(customer, policy, covered_to, member, card)
        first_day = min(p["effective_date"] for p, _ in policies)
        minute = rng.randrange(9 * 60, 22 * 60)
        signed_up = max(first_day - timedelta(days=rng.randrange(0, 20)), adult_from)
        customer["created_at"] = _utc(signed_up, minute // 60, minute % 60)
        customer["tags"] = _tags(customer, policies)
        customer["bank_account"] = _bank_account(cid, card)
        self.rows["customers"].append(customer)

    def fixed_customer(self, spec: dict[str, Any]) -> None:
        """One of the README's demo customers: every value fixed, none drawn."""
        customer = {k: spec[k] for k in _CUSTOMER_COLUMNS}
        policies = []
        for p in spec["policies"]:
            product = PRODUCT_BY_CODE[p["product"]]
            policy_id = self.take_id("policies")
            policy = {
                "id": policy_id,
                "number": make_policy_number(policy_id),
                "holder_id": customer["id"],
                "product_code": product["code"],
                "product_name": product["name_zh"],
                "kind": product["kind"],
                "long_term": product["long_term"],
                "status": PolicyStatus.ACTIVE,
                "sum_insured": Decimal(p["sum_insured"]),
                "premium": Decimal(p["premium"]),
                "effective_date": p["effective_date"],
                "expiry_date": add_years(p["effective_date"], p["term_years"]) - timedelta(1),
            }
            people = [{**{k: spec[k] for k in _PERSON}, "relation": "self"}, *p["members"]]
            members = [
                {
                    "id": self.take_id("insured_members"),
                    "policy_id": policy_id,
                    "customer_id": customer["id"] if m["relation"] == "self" else None,
                    **{k: m[k] for k in (*_PERSON, "relation")},
                }
                for m in people
            ]
            policies.append((policy, members))
            self.rows["policies"].append(policy)
            self.rows["insured_members"] += members
            for c in p["claims"]:
                member = next(m for m in members if m["name"] == c["member"])
                self.add_claim(
                    policy=policy,
                    member=member,
                    kind=c["kind"],
                    incident=c["incident"],
                    hospital=c["hospital"],
                    claimed=Decimal(c["claimed"]),
                    approved=Decimal(c["approved"]),
                    history=c["history"],
                    missing=c.get("missing", []),
                    reason=c.get("reason"),
                )
        customer["tags"] = _tags(customer, policies)
        self.rows["customers"].append(customer)
        numbers = ", ".join(f"{p['number']} ({p['product_name']})" for p, _ in policies)
        self.demo.append(
            f"demo customer {customer['id']}: {customer['name']}, ID {customer['id_card_number']}, "
            f"mobile {customer['mobile']}, policies {numbers}"
        )

    def batch(self, first_cid: int, count: int) -> dict[str, list[dict[str, Any]]]:
        self.rows = {t.name: [] for t in TABLES}
        for cid in range(first_cid, first_cid + count):
            if cid in DEMO_CUSTOMERS:
                self.fixed_customer(DEMO_CUSTOMERS[cid])
            else:
                self.random_customer(cid)
        return self.rows


def _born(age_years: float) -> date:
    return REFERENCE_DATE - timedelta(days=int(age_years * 365.25))


def _index(steps: list[tuple[ClaimStage, float, str | None]], stage: ClaimStage) -> int:
    return next(i for i, step in enumerate(steps) if step[0] == stage)


def _tags(customer: dict[str, Any], policies: list[tuple[dict[str, Any], list]]) -> list[str]:
    active = [p for p, _ in policies if p["status"] == PolicyStatus.ACTIVE]
    tags = []
    if any(p["kind"] == PolicyKind.LONG_TERM_MEDICAL for p in active):
        tags.append("long_term_medical_holder")
    if not customer["has_social_insurance"]:
        tags.append("no_social_insurance")
    if customer["city_tier"] >= 3:
        tags.append("tier3_below")
    if any(len(members) > 1 for p, members in policies if p in active):
        tags.append("family_cover")
    if len(active) >= 3 or sum(p["premium"] for p in active) >= 6_000:
        tags.append("vip")
    return tags


_MEDICAL_POLICIES = (PolicyKind.LONG_TERM_MEDICAL, PolicyKind.SHORT_TERM_MEDICAL)
_LONG_STATUSES = (PolicyStatus.ACTIVE, PolicyStatus.LAPSED, PolicyStatus.CANCELLED)
_LONG_STATUS_WEIGHTS = (86, 9, 5)
_SHORT_STATUSES = (
    PolicyStatus.ACTIVE,
    PolicyStatus.EXPIRED,
    PolicyStatus.CANCELLED,
    PolicyStatus.LAPSED,
)
_SHORT_STATUS_WEIGHTS = (68, 22, 6, 4)
# Chance that a relative is insured on a policy of each kind.
_MEMBER_CHANCES = {
    PolicyKind.LONG_TERM_MEDICAL: {"spouse": 0.35, "child": 0.4, "parent": 0.15},
    PolicyKind.SHORT_TERM_MEDICAL: {"spouse": 0.3, "child": 0.35, "parent": 0.12},
    PolicyKind.CRITICAL_ILLNESS: {"spouse": 0.0, "child": 0.08, "parent": 0.0},
    PolicyKind.ACCIDENT: {"spouse": 0.1, "child": 0.05, "parent": 0.0},
}
# Days from the incident (or discharge, or diagnosis) to submitting the claim.
_SUBMISSION_DELAY = {
    ClaimKind.OUTPATIENT: (0, 10),
    ClaimKind.HOSPITALISATION: (3, 25),
    ClaimKind.CRITICAL_ILLNESS: (5, 40),
    ClaimKind.ACCIDENT: (1, 20),
}
_OPEN_STAGES = (
    ClaimStage.SUBMITTED,
    ClaimStage.DOCUMENTS_PENDING,
    ClaimStage.REVIEWING,
    ClaimStage.INVESTIGATING,
    ClaimStage.APPROVED,
)
_OPEN_STAGE_WEIGHTS = (12, 28, 40, 8, 12)
_APPROVED = (ClaimStage.APPROVED, ClaimStage.PAID)
_CLOSED = (ClaimStage.PAID, ClaimStage.REJECTED)
_CUSTOMER_COLUMNS = [c.name for c in Customer.__table__.columns]
_PERSON = ("name", "id_card_number", "birth_date")

# --- the fixed demo customers ------------------------------------------------------

_S, _D, _R, _A, _P = (
    ClaimStage.SUBMITTED,
    ClaimStage.DOCUMENTS_PENDING,
    ClaimStage.REVIEWING,
    ClaimStage.APPROVED,
    ClaimStage.PAID,
)
_APP, _WECHAT = SUBMISSION_CHANNELS[0], SUBMISSION_CHANNELS[1]


def _t(month: int, day: int, hour: int, minute: int, year: int = 2026) -> datetime:
    return _utc(date(year, month, day), hour, minute)


def _bank_account(cid: int, last4: str) -> str:
    """A 16-digit debit card number ending in the digits the claim notes quote."""
    return f"6222{(cid * 7919 + 1301) % 10**8:08d}{last4}"


def _paid_note(card: str) -> str:
    return f"已转账至尾号 {card} 的银行卡 / Paid to the bank card ending {card}"


def _approved_note(amount: str) -> str:
    return f"核定赔付 {amount} 元 / Approved: CNY {amount}"


DEMO_CUSTOMERS: dict[int, dict[str, Any]] = {
    1: {
        "id": 1,
        "name": "张伟",
        "id_card_number": _fixed_id_card("110105", date(1986, 4, 12), "035"),
        "mobile": "13800138000",
        "bank_account": "6217000010086217",
        "birth_date": date(1986, 4, 12),
        "gender": "M",
        "province": "北京",
        "city": "北京",
        "city_tier": 1,
        "has_social_insurance": True,
        "tags": [],
        "created_at": _t(3, 10, 20, 41, year=2023),
        "policies": [
            {
                "product": "RBJK-ACC",
                "sum_insured": 500_000,
                "premium": 199,
                "effective_date": date(2026, 3, 15),
                "term_years": 1,
                "members": [],
                "claims": [],
            },
            {
                "product": "HYB-LTM",
                "sum_insured": 4_000_000,
                "premium": 586,
                "effective_date": date(2023, 3, 15),
                "term_years": 20,
                "members": [
                    {
                        "relation": "spouse",
                        "name": "刘敏",
                        "id_card_number": _fixed_id_card("110108", date(1988, 9, 3), "046"),
                        "birth_date": date(1988, 9, 3),
                    },
                    {
                        "relation": "child",
                        "name": "张梓轩",
                        "id_card_number": _fixed_id_card("110105", date(2016, 7, 21), "013"),
                        "birth_date": date(2016, 7, 21),
                    },
                ],
                "claims": [
                    {
                        "member": "张伟",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 6, 18),
                        "hospital": "北京协和医院",
                        "claimed": "23456.80",
                        "approved": "21870.50",
                        "history": [
                            (_S, _t(6, 25, 9, 32), _APP),
                            (_R, _t(6, 25, 11, 5), None),
                            (_A, _t(6, 25, 17, 40), _approved_note("21870.50")),
                            (_P, _t(6, 25, 20, 18), _paid_note("6217")),
                        ],
                    },
                    {
                        "member": "张梓轩",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 10, 24),
                        "hospital": "首都医科大学附属北京儿童医院",
                        "claimed": "8620.00",
                        "approved": "8620.00",
                        "history": [
                            (_S, _t(10, 29, 19, 20), _WECHAT),
                            (_R, _t(10, 29, 21, 2), None),
                        ],
                    },
                ],
            },
        ],
    },
    2: {
        "id": 2,
        "name": "李娜",
        "id_card_number": _fixed_id_card("510104", date(1979, 9, 23), "026"),
        "mobile": "13900139000",
        "bank_account": "6222024402010932",
        "birth_date": date(1979, 9, 23),
        "gender": "F",
        "province": "四川",
        "city": "成都",
        "city_tier": 2,
        "has_social_insurance": True,
        "tags": [],
        "created_at": _t(5, 28, 12, 16, year=2021),
        "policies": [
            {
                "product": "HYB-STM",
                "sum_insured": 3_000_000,
                "premium": 356,
                "effective_date": date(2026, 2, 1),
                "term_years": 1,
                "members": [],
                "claims": [
                    {
                        "member": "李娜",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 8, 9),
                        "hospital": "四川省人民医院",
                        "claimed": "12380.00",
                        "approved": "11905.60",
                        "history": [
                            (_S, _t(8, 16, 8, 47), _WECHAT),
                            (_R, _t(8, 16, 8, 50), "快速理赔 / Fast-track claim"),
                            (_A, _t(8, 16, 9, 4), _approved_note("11905.60")),
                            (_P, _t(8, 16, 9, 15), _paid_note("0932")),
                        ],
                    }
                ],
            },
            {
                "product": "RBJK-CI",
                "sum_insured": 300_000,
                "premium": 4_860,
                "effective_date": date(2021, 6, 1),
                "term_years": 30,
                "members": [],
                "claims": [
                    {
                        "member": "李娜",
                        "kind": ClaimKind.CRITICAL_ILLNESS,
                        "incident": date(2026, 10, 20),
                        "hospital": "四川大学华西医院",
                        "claimed": "300000.00",
                        "approved": "300000.00",
                        "missing": [
                            "病理诊断报告 / pathology report",
                            "出院小结 / discharge summary",
                        ],
                        "history": [
                            (_S, _t(10, 27, 10, 10), _APP),
                            (
                                _D,
                                _t(10, 27, 15, 45),
                                "需补充材料 / Documents needed: 病理诊断报告 / pathology report; "
                                "出院小结 / discharge summary",
                            ),
                        ],
                    }
                ],
            },
        ],
    },
}


# --- writing it ---------------------------------------------------------------------


async def _first_ids(conn) -> dict[str, int]:
    ids = {}
    for table in TABLES:
        ids[table.name] = ((await conn.scalar(select(func.max(table.c.id)))) or 0) + 1
    return ids


async def _id_cards_in_use(conn) -> set[str]:
    taken = set(await conn.scalars(select(Customer.__table__.c.id_card_number)))
    taken.update(await conn.scalars(select(InsuredMember.__table__.c.id_card_number)))
    return taken


async def generate(
    url: str,
    customers: int,
    seed: int = 7,
    progress: Callable[[str], Any] = print,
    *,
    if_empty: bool = False,
) -> dict[str, int]:
    """Add `customers` demo customers, with their policies, insured members, claims and
    claim histories, to the store at `url` (migrated first). Returns the rows added per
    table. With `if_empty`, adds nothing when the store already has customers."""
    started = time.perf_counter()
    counts = {table.name: 0 for table in TABLES}
    await migrate_async(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            existing = await conn.scalar(select(func.count()).select_from(Customer.__table__))
            if if_empty and existing:
                progress(f"demo data: the store already has {existing:,} customers; nothing added")
                return counts
            first = await _first_ids(conn)
            taken = await _id_cards_in_use(conn) if existing else set()
        for spec in DEMO_CUSTOMERS.values():
            taken.add(spec["id_card_number"])
            for policy in spec["policies"]:
                taken.update(m["id_card_number"] for m in policy["members"])
        progress(f"demo data: generating {customers:,} customers (seed {seed})")
        # A run that appends draws from a stream of its own.
        rng = random.Random(f"health-desk demo data: seed {seed}, from {first['customers']}")
        gen = _Generator(rng, first, taken)
        done = 0
        while done < customers:
            size = min(BATCH, customers - done)
            rows = gen.batch(first["customers"] + done, size)
            async with engine.begin() as conn:
                for table in TABLES:
                    if rows[table.name]:
                        await conn.execute(insert(table), rows[table.name])
                    counts[table.name] += len(rows[table.name])
            done += size
            if done % PROGRESS_EVERY == 0 and done < customers:
                elapsed = time.perf_counter() - started
                progress(f"  {done:,} / {customers:,} customers ({elapsed:.1f} s)")
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    progress(
        "demo data: added "
        + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in counts.items())
        + f" in {elapsed:.1f} s"
    )
    for line in gen.demo:
        progress(line)
    return counts


async def _main(args: argparse.Namespace) -> None:
    url = args.database_url
    if not url:
        from console.settings import get_settings

        url = get_settings().database_url
    await generate(url, args.customers, args.seed, print, if_empty=args.if_empty)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m store.demo", description="Add deterministic demo data to the store."
    )
    parser.add_argument("--customers", type=int, default=2000, help="how many (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--database-url", help="default: the settings' DATABASE_URL")
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when the store has customers"
    )
    args = parser.parse_args(argv)
    if args.customers < 0:
        parser.error("--customers must not be negative")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
