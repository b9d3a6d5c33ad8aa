"""The domain: plain typed functions over a session, knowing nothing of Prefect or HTTP;
tasks/jobs.py is its only Prefect wrapper."""
