"""Business logic as plain typed functions over a session; Prefect tasks wrap them thinly."""
