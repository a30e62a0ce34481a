"""transit-operator: Databricks Serverless -> Confluent Cloud private connectivity on Azure.

Layers (enforced by import-linter, see pyproject.toml):

    cli -> runtime (kopf) -> reconcile -> plan (pure builders) | cloud (SDK clients) -> api (pydantic models)
"""

__version__ = "0.1.0"
