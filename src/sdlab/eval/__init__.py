"""Evaluation: grids, judged prompt adherence, the demo."""
