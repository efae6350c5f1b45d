"""What the demo's staff, supervisors and system write on a case's timeline (demo texts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from surveys.cases.models import CaseState

S = CaseState

MOVE_NOTES: Mapping[CaseState, Sequence[str]] = {
    S.verifying: (
        "已电话联系评价人，了解具体情况。",
        "已调取办件记录和窗口监控，正在核实。",
        "已联系窗口负责人了解情况。",
    ),
    S.rectifying: (
        "情况属实，已制定整改措施。",
        "已约谈窗口人员，限期整改。",
        "已纳入本周整改台账，专人跟进。",
    ),
    # The note of 已反馈 is the 反馈 the citizen receives.
    S.replied: (
        "您好，已对窗口人员开展服务规范培训并优化叫号流程，现将整改情况向您反馈。",
        "您好，已统一该事项的材料清单并更新办事指南，现将整改情况向您反馈。",
        "您好，已协调系统运维单位修复登录问题，现可正常在线办理，特此反馈。",
        "您好，已安排专人跟进您的办件，现已办结，特此反馈。",
    ),
    # Shown to the citizen: the reason the 差评 was found 不属实.
    S.unfounded: (
        "经调取办件记录和现场监控核实，该办件已按承诺时限办结，所反映情况与事实不符。",
        "经核实，所述问题系申请材料不全所致，窗口已一次性告知所需材料。",
    ),
    S.appealing: (
        "经核实，所涉问题不属于本单位职责范围，申请申诉复核。",
        "经电话确认系评价人误评，申请申诉复核。",
    ),
    S.appeal_upheld: ("经考评办复核，申诉理由成立，该评价不计入考评。",),
    S.appeal_rejected: ("经考评办复核，申诉理由不成立，请按期整改并反馈。",),
}
# The unit's first word to a citizen who agreed to be contacted.
FIRST_REPLIES = (
    "您好，我们已收到您的评价，正在核实有关情况，将尽快向您反馈。",
    "您好，感谢您的评价，我单位已安排专人核实处理。",
)
CLOSE_NOTES: Mapping[str, Sequence[str]] = {
    "rerated": ("评价人已复评，结案。",),
    "unfounded": ("已向评价人说明核实情况，结案。",),
    "appeal_upheld": ("申诉成立，结案。",),
    "supervisor": (
        "经考评办协调，问题已解决，评价人电话表示认可，予以关闭。",
        "已电话回访，评价人表示不再复评，予以关闭。",
    ),
}


def escalated_note(which: str, due: str) -> str:
    """As surveys.cases.service.escalate_overdue writes it."""
    return f"超过{which}期限（{due}），已督办"
