// Writes a Fetch API Response (what the MCP SDK 2.x handlers return) to a
// Node http.ServerResponse, streaming its body: the 2026-07-28 fixtures run
// those handlers behind node:http.

/** Sends `response` on `res`; cancels the body when the client goes away. */
export async function writeFetchResponse(res, response) {
  const out = {};
  response.headers.forEach((v, k) => {
    out[k] = v;
  });
  res.writeHead(response.status, out);
  if (!response.body) return res.end();
  const reader = response.body.getReader();
  res.on('close', () => reader.cancel().catch(() => {}));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    res.write(value);
  }
  res.end();
}
