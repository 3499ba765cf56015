"""Alembic's entry point. The service runs migrations itself at start-up (`Database.migrate`)
and hands over its connection; `alembic -x url=...` from a shell works too."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gwf.service.db.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).connect() as own:
        context.configure(connection=own, target_metadata=Base.metadata, render_as_batch=own.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
