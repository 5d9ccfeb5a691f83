from orders.models import Base
from shopfloor_common.db import run_migrations_from_env_py

run_migrations_from_env_py(Base.metadata)
