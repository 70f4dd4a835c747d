// Shared helpers for the analytics scripts. Parameters come through --eval, for example
//   mongosh "$MONGODB_URL" --eval 'var from="2026-11-01", to="2026-11-30"' mongosh/cost_by_model.js
// Common parameters: dbName (default: the URL's database), format ("table" or "json").
//
// Every $group has one accumulator: FerretDB v1.24 computes only the first accumulator of a
// $group, so a table with several measures runs one pipeline per measure (as the API does).

function param(name, fallback) {
  return typeof globalThis[name] === "undefined" ? fallback : globalThis[name];
}

function target() {
  const name = param("dbName", null);
  return name ? db.getSiblingDB(name) : db;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function period() {
  const to = param("to", isoDay(new Date()));
  const from = param("from", isoDay(new Date(Date.parse(to) - 29 * 86400000)));
  return { from: from, to: to };
}

// { measure: [pipeline] } → { key: { measure: value } }
function measures(collection, pipelines) {
  const rows = {};
  for (const name of Object.keys(pipelines)) {
    collection.aggregate(pipelines[name]).forEach((row) => {
      const key = row._id === null || row._id === undefined ? "(none)" : String(row._id);
      rows[key] = rows[key] || {};
      rows[key][name] = row.value;
    });
  }
  return rows;
}

// usage_rollups: one document per owner and day; `total` and, per dimension (model, provider,
// operation, api_key), one entry per key, each with calls, errors, prompt_tokens,
// completion_tokens, total_tokens, cost_micros, latency_ms. Keys are percent-encoded UTF-8
// (letters, digits, - and _ stay), and "~" alone is "none" (no API key).
function decodeKey(name) {
  return name === "~" ? "(none)" : decodeURIComponent(name);
}

// The sums per key of one dimension over the rollups matching `match` → { key: { measure: n } }.
function rollupsBy(match, dim) {
  const rows = {};
  target()
    .usage_rollups.find(match, { [dim]: 1 })
    .forEach((day) => {
      for (const [name, sums] of Object.entries(day[dim] || {})) {
        const row = (rows[decodeKey(name)] = rows[decodeKey(name)] || {});
        for (const [measure, value] of Object.entries(sums)) {
          row[measure] = (row[measure] || 0) + Number(value);
        }
      }
    });
  return rows;
}

function measureBy(match, groupField, summedField) {
  return [
    { $match: match },
    { $group: { _id: groupField ? "$" + groupField : null, value: { $sum: summedField ? "$" + summedField : 1 } } },
    { $sort: { _id: 1 } },
  ];
}

function usd(micros) {
  const whole = Math.floor(micros / 1000000);
  const fraction = String(micros % 1000000).padStart(6, "0");
  return whole + "." + fraction;
}

function report(title, columns, rows) {
  if (param("format", "table") === "json") {
    print(EJSON.stringify(rows));
    return;
  }
  print(title);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => cells.map((cell, i) => String(cell).padEnd(widths[i])).join("  ");
  print(line(columns));
  print(widths.map((w) => "-".repeat(w)).join("  "));
  rows.forEach((row) => print(line(columns.map((c) => row[c]))));
  if (rows.length === 0) print("(no rows)");
}
