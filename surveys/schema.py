"""The whole schema: every feature's tables, imported once for Alembic and the tests."""

from __future__ import annotations

from sqlmodel import SQLModel

from surveys.accounts import models as accounts_models
from surveys.cases import models as cases_models
from surveys.core import models as core_models
from surveys.delivery import broadcast_models
from surveys.delivery import models as delivery_models
from surveys.haochaping import models as haochaping_models
from surveys.hotline import models as hotline_models
from surveys.questionnaire import models as questionnaire_models

MODULES = (
    core_models,
    accounts_models,
    questionnaire_models,
    haochaping_models,
    cases_models,
    hotline_models,
    delivery_models,
    broadcast_models,
)
metadata = SQLModel.metadata
