"""Retention: deleting visits, export packages and request details on schedule.

The promise (docs/OPERATIONS.md, "Jobs"): data is deleted when the retention
period ends, from the database's free pages too, even when nobody is logged in.
`checkins`, `office_data` and `history` hold the rules for their data,
`sqlite_batches` how SQLite deletes without holding guests back, `services` the
maintenance run that applies them all, `partitions` the PostgreSQL day partitions that
make deletion cheap, `lock` the exactly-one-runner guarantee, `scheduler` the in-process
timer and `cli` the operator's `gastregister purge` and `gastregister status`.
"""
