"""Prefect deployments of the timetable, built in code from the editable timetable file."""
