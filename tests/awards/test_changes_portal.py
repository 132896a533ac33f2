"""The secretariat records a change on the award's page, once confirmed; the team sees it."""

from __future__ import annotations

from tests.portal.conftest import audit_count, browsers, centre, csrf_of

__all__ = ["browsers", "centre"]  # fixtures, used by name


def _post(client, award_id, **form):
    token = csrf_of(client.get(f"/projects/{award_id}").text)
    return client.post(
        f"/projects/{award_id}/changes",
        data={"csrf_token": token, **form},
        follow_redirects=False,
    )


def test_the_secretariat_tops_up_an_award_from_its_page(browsers, centre, uow):
    office = browsers("secretariat")
    page = office.get(f"/projects/{centre.award_a}").text
    assert "Record a change" in page
    assert "No changes yet." in page
    form = {"kind": "top_up", "gpu_cards": "2", "decided_by": "Committee 6/2025",
            "reason": "a second model"}  # fmt: skip
    events = audit_count(uow)
    unconfirmed = _post(office, centre.award_a, **form)
    assert unconfirmed.status_code == 422
    assert "tick the box" in unconfirmed.text
    zero = _post(office, centre.award_a, **{**form, "gpu_cards": "0", "confirm": "yes"})
    assert zero.status_code == 422
    assert 'id="e-gpu_cards"' in zero.text
    assert audit_count(uow) == events
    done = _post(office, centre.award_a, **{**form, "confirm": "yes"})
    assert done.status_code == 303, done.text[-500:]
    team = browsers("pi").get(f"/projects/{centre.award_a}").text
    assert "Committee 6/2025" in team
    assert "Record a change" not in team  # the form is the secretariat's
    assert browsers("pi").post(
        f"/projects/{centre.award_a}/changes", data={"kind": "top_up"}, follow_redirects=False
    ).status_code in (403, 422)
