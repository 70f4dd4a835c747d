// Cost and tokens by model for a period, read from usage_rollups (the documents the API's
// /analytics/usage reads; lib.js describes their shape).
//   --eval 'var from="2026-11-01", to="2026-11-30", owner="<user id>"'   (owner optional)
load(__dirname + "/lib.js");

const p = period();
const match = { day: { $gte: p.from, $lte: p.to } };
if (param("owner", null)) match.owner_id = ObjectId(param("owner"));
const byModel = rollupsBy(match, "model");
const rows = Object.keys(byModel).sort().map((model) => ({
  model: model,
  calls: byModel[model].calls || 0,
  total_tokens: byModel[model].total_tokens || 0,
  cost_micros: byModel[model].cost_micros || 0,
  cost_usd: usd(byModel[model].cost_micros || 0),
}));
report(`Cost by model, ${p.from} to ${p.to}`, ["model", "calls", "total_tokens", "cost_usd"], rows);
