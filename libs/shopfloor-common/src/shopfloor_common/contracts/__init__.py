"""Wire formats between services and of the public API: one definition, used by the service that
owns the data (response models) and by the gateway (request validation and its OpenAPI)."""
