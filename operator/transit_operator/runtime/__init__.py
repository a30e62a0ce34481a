"""kopf wiring: handlers stay thin and call the reconcilers."""
