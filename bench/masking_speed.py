"""Masking speed: `desk.training.masking.mask` over N short customer messages (zh, en and
mixed, with and without personal data), one after the other in one process.

    .venv/bin/python bench/masking_speed.py [--messages 10000]

Prints the time per message (mean, p50, p95) after the pipelines are built.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.training.masking import mask  # noqa: E402
from store.identifiers import id_card_check_digit, luhn_digit, make_policy_number  # noqa: E402

TEMPLATES = (
    "您好，我的手机是{mobile}，保单号{policy}，请帮我查一下理赔进度",
    "身份证号{id_card}，我想申请垫付",
    "理赔款3000元什么时候到账？2026年11月20日提交的",
    "验证码是{code}",
    "my card {card} was charged ¥12,000.50 on 2026-11-20",
    "Hi, I'm {name}, my mobile is +86 {mobile}",
    "我叫{name}，邮箱 {name_ascii}@example.com",
    "好的，谢谢",
    "What does my policy cover for outpatient visits?",
    "报销比例是80%吗？我今年35岁",
)
NAMES = ("张伟", "Li Wei")


def message(rng: random.Random) -> str:
    first17 = f"110105{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 += f"{rng.randint(0, 999):03d}"
    card = f"6222{rng.randint(0, 10**11 - 1):011d}"
    return rng.choice(TEMPLATES).format(
        mobile=f"1{rng.randint(3, 9)}{rng.randint(0, 10**9 - 1):09d}",
        policy=make_policy_number(rng.randint(1, 10**6)),
        id_card=first17 + id_card_check_digit(first17),
        code=f"{rng.randint(0, 999999):06d}",
        card=card + luhn_digit(card),
        name=rng.choice(NAMES),
        name_ascii="liwei",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(1)
    messages = [message(rng) for _ in range(args.messages)]
    mask("热身 warm-up", names=NAMES)  # build both pipelines first
    mask("warm-up", names=NAMES)
    times = []
    started = time.perf_counter()
    for text in messages:
        t0 = time.perf_counter()
        mask(text, names=NAMES)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    q = statistics.quantiles(times, n=20)
    print(
        f"{len(messages)} messages in {total:.2f} s: mean {total / len(messages) * 1e6:.0f} µs, "
        f"p50 {q[9] * 1e6:.0f} µs, p95 {q[18] * 1e6:.0f} µs per message"
    )


if __name__ == "__main__":
    main()
