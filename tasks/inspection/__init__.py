"""H1-H4: the inspection-style tool's ratings, the mock inspection and risk-adaptive sampling."""
