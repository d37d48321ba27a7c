"""The HTTP endpoint for operators: health and metrics."""
