"""The recommender: constraints filter the catalog, survivors are ranked on accuracy against
measured (or estimated) cost, and every pick is explained. No torch at import."""
