"""A MongoDB document-store backend for AI-generation apps."""
