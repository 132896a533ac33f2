"""Words shown for the platform's codes (statuses, kinds, categories), marked for translation.

``N_`` marks a string for the catalogue without translating it here; templates translate at
render time with ``_()``.
"""

from __future__ import annotations


def N_(text: str) -> str:
    return text


LABELS: dict[str, str] = {
    # application statuses
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "screening": N_("Screening"),
    "incomplete": N_("Incomplete"),
    "under_review": N_("Under review"),
    "approved": N_("Approved"),
    "approved_with_conditions": N_("Approved with conditions"),
    "deferred": N_("Deferred"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    # progress reports and conditions of approval
    "due": N_("Due"),
    "changes_requested": N_("Changes requested"),
    "accepted": N_("Accepted"),
    "open": N_("Open"),
    "met": N_("Met"),
    "waived": N_("Waived"),
    "overdue": N_("Overdue"),
    # awards
    "offered": N_("Offered"),
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "terminated": N_("Terminated"),
    # jobs
    "pending": N_("Pending"),
    "running": N_("Running"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
    "timeout": N_("Timed out"),
    "cancelled": N_("Cancelled"),
    # nodes
    "up": N_("Up"),
    "draining": N_("Draining"),
    "down": N_("Down"),
    "maintenance": N_("Maintenance"),
    # allocations
    "scheduled": N_("Scheduled"),
    "ended": N_("Ended"),
    # request kinds
    "dedicated": N_("Dedicated cards"),
    "pooled": N_("Pooled GPU-hours"),
    # organisation categories
    "university": N_("University"),
    "research_institute": N_("R&D centre"),
    "ai_startup": N_("AI start-up"),
    "enterprise": N_("Enterprise"),
    "public_body": N_("Public body"),
    "other": N_("Other"),
    # domains
    "llm": N_("Large language models"),
    "materials": N_("Materials"),
    "synthetic_biology": N_("Synthetic biology"),
    "medical": N_("Medical"),
    "finance": N_("Finance"),
    "robotics": N_("Robotics"),
    "climate": N_("Climate"),
    "media": N_("Media"),
    # decision outcomes
    "approve": N_("Approve"),
    "approve_with_conditions": N_("Approve with conditions"),
    "defer": N_("Defer"),
    "reject": N_("Reject"),
    # changes to an award
    "top_up": N_("Top-up"),
    "reduction": N_("Reduction"),
    "extension": N_("Extension"),
    "early_end": N_("Early end"),
    # roles
    "applicant": N_("Applicant"),
    "reviewer": N_("Reviewer"),
    "secretariat": N_("Secretariat"),
    "operator": N_("Operator"),
    "auditor": N_("Auditor"),
}


def label(code: object) -> str:
    text = str(getattr(code, "value", code))
    return LABELS.get(text, text)
