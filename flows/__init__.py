"""Prefect flows: one per job of the catalogue (flows/timetable.py), the outbox sender and the
audit form in the Prefect UI.

Every process of the product (the command line, `yotqa serve`, a worker running a flow) imports
this package first. What it writes holds personal data (the database and its WAL journal, packs,
emails, exports): new files and folders are for their owner only.
"""

import os

os.umask(0o077)
