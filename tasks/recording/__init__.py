"""Recording a completed audit (App. 1, D3, D4, E3, E4): one validation for every way in."""
