"""Price lists are immutable once created: a new price is a new version.

An award locks the version in force on the day of its approval; billing uses that version for
the life of the award.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aisc.db.base import Base, UTCDateTime


class PriceList(Base):
    __tablename__ = "price_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    items: Mapped[list[PriceItem]] = relationship(
        back_populates="price_list",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="PriceItem.gpu_model_code",
    )

    def item_for(self, gpu_model_code: str) -> PriceItem | None:
        return next((i for i in self.items if i.gpu_model_code == gpu_model_code), None)


class PriceItem(Base):
    __tablename__ = "price_items"
    __table_args__ = (
        UniqueConstraint("price_list_id", "gpu_model_code"),
        CheckConstraint("card_month_cents > 0", name="card_month_positive"),
        CheckConstraint("gpu_hour_cents > 0", name="gpu_hour_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    price_list_id: Mapped[int] = mapped_column(
        ForeignKey("price_lists.id", ondelete="CASCADE"), nullable=False
    )
    gpu_model_code: Mapped[str] = mapped_column(ForeignKey("gpu_models.code"), nullable=False)
    card_month_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    gpu_hour_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)

    price_list: Mapped[PriceList] = relationship(back_populates="items")
