// Daily active users: users with at least one usage event per day. Each user has one
// usage_rollups document per day it was active, so this counts documents.
//   --eval 'var from="2026-11-01", to="2026-11-30"'
load(__dirname + "/lib.js");

const p = period();
const rows = target()
  .usage_rollups.aggregate(measureBy({ day: { $gte: p.from, $lte: p.to }, "total.calls": { $gt: 0 } }, "day", null))
  .toArray()
  .map((row) => ({ day: row._id, active_users: row.value }));
report(`Daily active users, ${p.from} to ${p.to}`, ["day", "active_users"], rows);
