"""Schema and data migrations, applied in order and recorded in the `migrations` collection."""
