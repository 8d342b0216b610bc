"""Widgets of the dashboard, and the cell and text builders they share."""
