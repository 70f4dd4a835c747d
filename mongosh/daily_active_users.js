// Daily active users: distinct users with at least one usage event per day.
//   --eval 'var from="2026-11-01", to="2026-11-30"'
load(__dirname + "/lib.js");

const p = period();
const rows = target()
  .usage_events.aggregate([
    { $match: { day: { $gte: p.from, $lte: p.to } } },
    { $group: { _id: { day: "$day", user: "$owner_id" }, value: { $sum: 1 } } },
    { $group: { _id: "$_id.day", value: { $sum: 1 } } },
    { $sort: { _id: 1 } },
  ])
  .toArray()
  .map((row) => ({ day: row._id, active_users: row.value }));
report(`Daily active users, ${p.from} to ${p.to}`, ["day", "active_users"], rows);
