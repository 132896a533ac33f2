"""Import every domain's models so ``metadata`` knows all tables (for Alembic and tests)."""

from aisc.accounts import models as _accounts  # noqa: F401
from aisc.allocations import models as _allocations  # noqa: F401
from aisc.applications import models as _applications  # noqa: F401
from aisc.audit import models as _audit  # noqa: F401
from aisc.awards import models as _awards  # noqa: F401
from aisc.billing import models as _billing  # noqa: F401
from aisc.cluster import models as _cluster  # noqa: F401
from aisc.db.base import Base
from aisc.db.lease import WorkerLease as _lease  # noqa: F401
from aisc.jobs import models as _jobs  # noqa: F401
from aisc.ledger import models as _ledger  # noqa: F401
from aisc.metering import models as _metering  # noqa: F401
from aisc.outbox import models as _outbox  # noqa: F401
from aisc.pricing import models as _pricing  # noqa: F401
from aisc.progress import models as _progress  # noqa: F401
from aisc.qos import models as _qos  # noqa: F401
from aisc.review import models as _review  # noqa: F401
from aisc.scheme import models as _scheme  # noqa: F401

metadata = Base.metadata
