// Cost and tokens by model for a period, read from usage_rollups (one document per owner, day,
// dimension and key: the API's /analytics/usage reads the same documents).
//   --eval 'var from="2026-11-01", to="2026-11-30", owner="<user id>"'   (owner optional)
load(__dirname + "/lib.js");

const p = period();
const match = { dim: "model", day: { $gte: p.from, $lte: p.to } };
if (param("owner", null)) match.owner_id = ObjectId(param("owner"));
const byModel = measures(target().usage_rollups, {
  calls: measureBy(match, "key", "calls"),
  total_tokens: measureBy(match, "key", "total_tokens"),
  cost_micros: measureBy(match, "key", "cost_micros"),
});
const rows = Object.keys(byModel).sort().map((model) => ({
  model: model,
  calls: byModel[model].calls || 0,
  total_tokens: byModel[model].total_tokens || 0,
  cost_micros: byModel[model].cost_micros || 0,
  cost_usd: usd(byModel[model].cost_micros || 0),
}));
report(`Cost by model, ${p.from} to ${p.to}`, ["model", "calls", "total_tokens", "cost_usd"], rows);
