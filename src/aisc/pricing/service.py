"""Price lists: created whole, never edited; the version in force on a day is the latest
whose ``effective_from`` is on or before it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from aisc.access import authorize
from aisc.applications.models import RequestKind
from aisc.audit.service import record
from aisc.cluster.models import GpuModel
from aisc.context import Ctx
from aisc.errors import Conflict, NotFound, ValidationFailed
from aisc.money import apply_rate, hkd_to_cents
from aisc.pricing.models import PriceItem, PriceList
from aisc.pricing.schemas import Estimate, PriceListCreate
from aisc.scheme.service import get_scheme


def create_price_list(ctx: Ctx, *, data: PriceListCreate) -> PriceList:
    authorize(ctx, "price.manage")
    if ctx.db.execute(select(PriceList.id).where(PriceList.version == data.version)).first():
        raise Conflict(f"price list version {data.version!r} already exists", field="version")
    if ctx.db.execute(
        select(PriceList.id).where(PriceList.effective_from == data.effective_from)
    ).first():
        raise Conflict(
            f"a price list already takes effect on {data.effective_from}", field="effective_from"
        )
    seen: set[str] = set()
    items = []
    for index, item in enumerate(data.items):
        field = f"items[{index}].gpu_model"
        if item.gpu_model in seen:
            raise ValidationFailed(f"{field}: {item.gpu_model!r} is listed twice", field=field)
        if ctx.db.get(GpuModel, item.gpu_model) is None:
            raise ValidationFailed(f"{field}: unknown GPU model {item.gpu_model!r}", field=field)
        seen.add(item.gpu_model)
        items.append(
            PriceItem(
                gpu_model_code=item.gpu_model,
                card_month_cents=hkd_to_cents(item.card_month_hkd, field="card_month_hkd"),
                gpu_hour_cents=hkd_to_cents(item.gpu_hour_hkd, field="gpu_hour_hkd"),
            )
        )
    price_list = PriceList(
        version=data.version,
        effective_from=data.effective_from,
        note=data.note,
        created_at=ctx.now,
        items=items,
    )
    ctx.db.add(price_list)
    ctx.db.flush()
    record(
        ctx,
        action="price_list.create",
        object_type="price_list",
        object_id=price_list.id,
        after=data.model_dump(mode="json"),
    )
    return price_list


def list_price_lists(ctx: Ctx) -> list[PriceList]:
    authorize(ctx, "price.read")
    return list(ctx.db.execute(select(PriceList).order_by(PriceList.effective_from)).scalars())


def get_price_list(ctx: Ctx, *, version: str) -> PriceList:
    authorize(ctx, "price.read")
    price_list = ctx.db.execute(
        select(PriceList).where(PriceList.version == version)
    ).scalar_one_or_none()
    if price_list is None:
        raise NotFound(f"price list {version!r} not found", field="version")
    return price_list


def price_list_in_force(ctx: Ctx, *, on: date) -> PriceList:
    authorize(ctx, "price.read")
    price_list = ctx.db.execute(
        select(PriceList)
        .where(PriceList.effective_from <= on)
        .order_by(PriceList.effective_from.desc())
        .limit(1)
    ).scalar_one_or_none()
    if price_list is None:
        raise NotFound(f"no price list is in force on {on}", field="price_list")
    return price_list


def list_value_cents(
    price_list: PriceList,
    *,
    kind: RequestKind,
    gpu_model: str,
    gpu_cards: int | None,
    months: int | None,
    gpu_hours: int | None,
) -> int:
    """List value of a compute grant: cards x months x card-month price, or GPU-hours x price."""
    item = price_list.item_for(gpu_model)
    if item is None:
        raise ValidationFailed(
            f"price list {price_list.version} has no price for GPU model {gpu_model!r}",
            field="gpu_model",
        )
    if kind is RequestKind.DEDICATED:
        return (gpu_cards or 0) * (months or 0) * item.card_month_cents
    return (gpu_hours or 0) * item.gpu_hour_cents


def estimate(
    ctx: Ctx,
    *,
    kind: RequestKind,
    gpu_model: str,
    gpu_cards: int | None,
    months: int | None,
    gpu_hours: int | None,
    on: date,
) -> Estimate:
    """A request priced at the list in force on ``on``, subsidised at the default rate."""
    authorize(ctx, "price.read")
    prices = price_list_in_force(ctx, on=on)
    value = list_value_cents(
        prices, kind=kind, gpu_model=gpu_model, gpu_cards=gpu_cards, months=months,
        gpu_hours=gpu_hours,
    )  # fmt: skip
    rate_bp = get_scheme(ctx).default_rate_bp
    subsidy = apply_rate(value, rate_bp)
    return Estimate(
        price_list_version=prices.version,
        list_value_cents=value,
        rate_bp=rate_bp,
        subsidy_cents=subsidy,
        own_share_cents=value - subsidy,
    )
