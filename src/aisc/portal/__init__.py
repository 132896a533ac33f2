"""The portal: every role's work in the browser, in English and Traditional Chinese.

Server-rendered pages (Jinja2) over the same services as the API; see ``aisc.portal.web`` for
sign-in, CSRF, languages and how errors are shown.
"""

from __future__ import annotations

from fastapi import APIRouter

from aisc.portal import account, applicant, committee, earmarks, progress, projects, public, staff

router = APIRouter(include_in_schema=False)
for part in (public, account, applicant, committee, projects, progress, staff, earmarks):
    router.include_router(part.router)
