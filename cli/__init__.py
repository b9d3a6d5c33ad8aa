"""The `yotqa` command line: the top of the house, thin commands over the domain (tasks/), the
catalogue of jobs and the deployments. No module below imports it."""

import flows  # noqa: F401  (every process of the product sets its umask there first)
