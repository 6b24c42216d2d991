"""The history database: one settled record per call, written from the event log.

SQLAlchemy Core; SQLite by default, PostgreSQL by URL. Other packages (tickets) define their
tables on :data:`callcenter.history.tables.metadata` so one ``create_all`` makes the schema.
"""
