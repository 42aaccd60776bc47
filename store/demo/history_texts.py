"""What the demo history's customers, bot and agents say: short texts in Chinese and
English per topic, masked as the review inbox keeps them (placeholders, never a real
identifier), and the shape of the service (channels, arrival curve, topics)."""

from __future__ import annotations

from typing import NamedTuple

# Channel mix of the seed's online service: the app and WeChat carry most of it.
CHANNELS = ("app", "wechat", "web", "telegram")
CHANNEL_WEIGHTS = (38, 40, 18, 4)
ENGLISH_SHARE = {"app": 0.06, "wechat": 0.03, "web": 0.12, "telegram": 0.7}

# Contacts per service hour, 09:00 to 20:00 China time: a lunchtime and an evening peak.
HOURS = tuple(range(9, 21))
HOUR_WEIGHTS = (7, 9, 9, 12, 11, 8, 8, 7, 8, 10, 12, 8)
# Contacts on a weekday (Monday first) relative to the busiest.
WEEKDAY_WEIGHTS = (1.0, 0.97, 0.95, 0.93, 0.9, 0.62, 0.55)


class Topic(NamedTuple):
    intent: str  # as the bot parses it ("faq" for FAQ questions, with faq_topic)
    faq_topic: str | None
    weight: float
    team: str  # whose queue a handoff joins
    form: str | None  # the first slot a form asks for, if the topic runs one
    zh: tuple[str, ...]
    en: tuple[str, ...]
    reason: str  # an agent's resolution reason for it


TOPICS = (
    Topic(
        "faq",
        "waiting_period",
        6,
        "general",
        None,
        ("等待期是多久？", "新买的保险多久能生效", "等待期内生病能赔吗"),
        ("How long is the waiting period?", "When does my new cover start?"),
        "answered",
    ),
    Topic(
        "faq",
        "hospitals",
        5,
        "general",
        None,
        ("哪些医院可以报销？", "私立医院能理赔吗", "二级医院可以吗"),
        ("Which hospitals are covered?", "Can I claim for a private hospital?"),
        "answered",
    ),
    Topic(
        "faq",
        "renewal",
        4,
        "general",
        None,
        ("保单怎么续保", "明年还能续保吗", "续保要重新健康告知吗"),
        ("How do I renew my policy?", "Can I renew next year?"),
        "answered",
    ),
    Topic(
        "faq",
        "deductible",
        4,
        "general",
        None,
        ("免赔额是多少", "一万免赔额怎么算", "免赔额每年重新算吗"),
        ("What is the deductible?", "How does the deductible work?"),
        "answered",
    ),
    Topic(
        "faq",
        "social_insurance",
        3,
        "general",
        None,
        ("没有社保能买吗", "没有医保报销比例是多少"),
        ("Can I buy without social insurance?",),
        "answered",
    ),
    Topic(
        "faq",
        "pre_existing",
        2,
        "general",
        None,
        ("既往症能投保吗", "有高血压可以买吗"),
        ("Are pre-existing conditions covered?",),
        "answered",
    ),
    Topic(
        "faq",
        "claim_time_limit",
        2,
        "claims",
        None,
        ("理赔有时间限制吗", "出院多久内要报案"),
        ("Is there a time limit to claim?",),
        "claim_explained",
    ),
    Topic(
        "ask_claim_status",
        None,
        15,
        "claims",
        "claim_number",
        ("我的理赔到哪一步了", "查一下理赔进度", "理赔款什么时候到账", "赔款还没到"),
        ("What is the status of my claim?", "When will my claim be paid?"),
        "claim_explained",
    ),
    Topic(
        "file_claim",
        None,
        11,
        "claims",
        "identity_number",
        ("我要申请理赔", "住院了怎么报销", "我想报案理赔", "门诊费用怎么理赔"),
        ("I want to file a claim", "How do I claim my hospital bill?"),
        "claim_explained",
    ),
    Topic(
        "ask_claim_documents",
        None,
        6,
        "claims",
        None,
        ("理赔需要什么材料", "发票丢了怎么办", "需要病历吗"),
        ("What documents do I need for a claim?",),
        "claim_explained",
    ),
    Topic(
        "ask_policy",
        None,
        9,
        "general",
        "identity_number",
        ("查一下我的保单", "我的保单什么时候到期", "保额是多少"),
        ("Show me my policy", "When does my policy expire?"),
        "answered",
    ),
    Topic(
        "ask_product",
        None,
        5,
        "general",
        None,
        ("好医保长期医疗怎么样", "有什么重疾险推荐", "意外险保什么"),
        ("Tell me about long-term medical cover", "What does accident cover include?"),
        "answered",
    ),
    Topic(
        "ask_advance_payment",
        None,
        3,
        "claims",
        "ap_policy",
        ("住院能垫付吗", "申请医院垫付", "押金可以先垫付吗"),
        ("Can you pay the hospital directly?",),
        "claim_explained",
    ),
    Topic(
        "complain",
        None,
        4,
        "complaints",
        None,
        ("我要投诉", "理赔太慢了，我要投诉", "客服态度太差", "扣款有问题我要投诉"),
        ("I want to make a complaint", "My claim is far too slow"),
        "complaint_logged",
    ),
    Topic(
        "request_human",
        None,
        7,
        "general",
        None,
        ("转人工", "人工客服", "我要找人工", "请帮我转接客服"),
        ("I want to talk to a person", "Agent please"),
        "answered",
    ),
    Topic(
        "request_callback",
        None,
        3,
        "general",
        "callback_window",
        ("请给我回个电话", "能打电话给我吗"),
        ("Please call me back",),
        "callback_scheduled",
    ),
)

GREETINGS = (("你好", "您好", "在吗", "hi"), ("Hello", "Hi", "Hi there"))
GOODBYES = (
    ("好的谢谢", "谢谢，再见", "明白了，谢谢", "好的"),
    ("Thanks, bye", "Got it, thanks", "OK thank you"),
)
THANKS = (("谢谢", "好的谢谢"), ("Thanks", "Thank you"))
# What the customer answers a form's question with, masked as the inbox keeps it.
FORM_ANSWERS = {
    "claim_number": (("<CLAIM_NO>", "理赔号 <CLAIM_NO>"), ("<CLAIM_NO>",)),
    "identity_number": (("<ID_CARD>", "身份证 <ID_CARD>"), ("<ID_CARD>",)),
    "ap_policy": (("<POLICY_NO>",), ("<POLICY_NO>",)),
    "callback_window": (
        ("明天上午", "下午三点以后", "今晚七点"),
        ("Tomorrow morning", "After 3 pm"),
    ),
}
UNCLEAR = (("那个怎么弄", "不对", "嗯？", "这个不行"), ("what", "no that's not it", "???"))

BOT_ANSWER = ("好的，这是相关说明，请查看。", "Here is what you need to know.")
BOT_ASK = {
    "claim_number": ("请提供您的理赔号。", "Please give me your claim number."),
    "identity_number": ("请提供投保人身份证号完成验证。", "Please give your ID number to verify."),
    "ap_policy": ("请问是哪一张保单？", "Which policy is it for?"),
    "callback_window": ("请问什么时间方便回电？", "When shall we call you?"),
}
BOT_DONE = ("已为您办理，还有其他可以帮您的吗？", "Done. Anything else I can help with?")
BOT_SORRY = ("抱歉，我没有理解，可以换个说法吗？", "Sorry, I didn't get that. Could you rephrase?")
BOT_GREET = ("您好，我是人保健康智能客服，请问有什么可以帮您？", "Hello, how can I help you today?")
BOT_BYE = ("感谢您的咨询，祝您健康！", "Thanks for contacting us. Take care!")

SYSTEM_QUEUED = (
    "正在为您转接人工客服，您前面还有 {n} 位。",
    "Connecting you to an agent; {n} ahead of you.",
)
SYSTEM_JOINED = ("{agent} 已接入会话。", "{agent} has joined the conversation.")
SYSTEM_LEFT = ("您已退出排队。", "You have left the queue.")
SYSTEM_RESOLVED = ("本次会话已结束。", "This conversation has been closed.")
SYSTEM_RATING = ("请为本次服务评分。", "Please rate this conversation.")
SYSTEM_RATED = ("感谢您的评价！", "Thank you for your rating!")

AGENT_OPEN = ("您好，我是{agent}，请问有什么可以帮您？", "Hello, this is {agent}. How can I help?")
AGENT_LINES = (
    (
        "我帮您查一下，请稍等。",
        "好的，已经为您核实。",
        "您的情况我已经记录下来了。",
        "还有其他问题吗？",
    ),
    (
        "Let me check that for you.",
        "I have checked it for you.",
        "I have noted that down.",
        "Anything else?",
    ),
)
CUSTOMER_LINES = (
    ("好的", "大概什么时候能处理好", "那我需要做什么", "明白了"),
    ("OK", "How long will it take?", "What do I need to do?", "I see"),
)

COMPLAINT_CATEGORIES = (
    ("claims", "理赔处理太慢，材料交了很久没有结果。"),
    ("service", "客服电话一直打不通。"),
    ("billing", "续保扣款金额和说好的不一样。"),
    ("policy", "保单信息有误，申请修改一直没处理。"),
)
DESIRED_OUTCOMES = ("尽快处理并给出答复", "退还多扣的保费", "请主管联系我")
HOSPITALS = (
    "北京协和医院",
    "四川大学华西医院",
    "复旦大学附属中山医院",
    "郑州大学第一附属医院",
    "南昌市第一医院",
    "襄阳市中心医院",
    "曲靖市第一人民医院",
)
