// The longest conversations by message count.
//   --eval 'var limit=10, owner="<user id>"'   (both optional)
load(__dirname + "/lib.js");

const filter = param("owner", null) ? { owner_id: ObjectId(param("owner")) } : {};
const rows = target()
  .conversations.find(filter, { title: 1, owner_id: 1, message_count: 1, last_message_at: 1 })
  .sort({ message_count: -1, _id: 1 })
  .limit(param("limit", 10))
  .toArray()
  .map((c) => ({
    id: String(c._id),
    title: c.title || "(untitled)",
    owner: String(c.owner_id),
    messages: c.message_count || 0,
    last_message_at: c.last_message_at ? c.last_message_at.toISOString() : "",
  }));
report("Top conversations by message count", ["id", "title", "owner", "messages", "last_message_at"], rows);
