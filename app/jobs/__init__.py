"""Periodic jobs. Each is idempotent, safe while the API serves traffic, and run by the CLI
(`genstore cleanup`, from cron or a scheduler in production):

- `cleanup.run_cleanup`: expired conversations and orphan archive buckets
  (`conversations.delete_expired`), unreferenced blobs and abandoned uploads
  (`app.storage.collect_unreferenced`), finished rate-limit windows, old outbox rows.
"""
