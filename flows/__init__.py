"""Prefect flows of the timetable, and the `yotqa` command line that runs them."""
