// Generation failure rate by kind: failed / finished (succeeded + failed).
//   --eval 'var owner="<user id>"'   (optional)
load(__dirname + "/lib.js");

const match = param("owner", null) ? { owner_id: ObjectId(param("owner")) } : {};
const byKind = measures(target().generations, {
  count: measureBy(match, "kind", null),
  succeeded: measureBy(match, "kind", "succeeded"),
  failed: measureBy(match, "kind", "failed"),
});
const rows = Object.keys(byKind).sort().map((kind) => {
  const r = byKind[kind];
  const finished = (r.succeeded || 0) + (r.failed || 0);
  return {
    kind: kind,
    count: r.count || 0,
    succeeded: r.succeeded || 0,
    failed: r.failed || 0,
    failure_rate: finished ? Math.round(((r.failed || 0) / finished) * 10000) / 10000 : null,
  };
});
report("Generation failure rate by kind", ["kind", "count", "succeeded", "failed", "failure_rate"], rows);
