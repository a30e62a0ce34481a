"""transit-operator: Databricks Serverless -> Confluent Cloud private connectivity on Azure.

Layers (enforced by import-linter, see pyproject.toml):

    cli -> runtime (kopf) -> reconcile -> cloud (SDK clients) -> plan (pure builders) -> api (pydantic models)
"""

__version__ = "0.1.0"
